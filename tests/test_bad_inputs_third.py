"""Third round of bad inputs: outsized rig flags, huge traces, odd spellings (session 20).

Each test names the mistake that used to slip through and what happened then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_bad_inputs import one_error, run_case

_one_error = one_error


@pytest.mark.parametrize(
    ("flag", "value", "texts"),
    [
        ("--steps", "1000000000", ("--steps", "limit of 1,000")),  # ran until --timeout
        ("--warmup", "1000000000", ("--warmup", "limit of 1,000")),
        ("--d-model", "10000000", ("--d-model", "GiB")),  # 9 lines of a rank's torch traceback
        ("--layers", "1000000", ("--layers", "GiB")),  # ran until --timeout
        ("--batch", "1000000000", ("--batch", "GiB")),
        ("--seq-len", "1000000000", ("--seq-len", "GiB")),
        ("--world", "100000", ("--world", "GiB")),  # 100,000 processes
        ("--timeout", "1e300", ("--timeout", "86,400")),
    ],
)
def test_outsized_record_flags_are_refused_before_any_rank(
    flag: str, value: str, texts: tuple[str, ...], tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    world = [] if flag == "--world" else ["--world", "2"]  # a flag is given once
    argv = ["record", *world, "--strategy", "ddp", "--out", str(out), flag, value]
    _one_error(argv, *texts)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--steps", "1000000000"), ("--d-model", "10000000"), ("--layers", "1000000"),
     ("--batch", "1000000000"), ("--timeout", "1e300")],
)  # fmt: skip
def test_outsized_validate_rig_flags_are_refused_before_the_rig(flag: str, value: str) -> None:
    """``validate --d-model 10000000`` was exit 70 with a traceback; the others ran the rig."""
    _one_error(["validate", flag, value], flag)


def test_the_memory_estimate_lets_the_default_recordings_run() -> None:
    from simulator.traces.models import GPTConfig
    from simulator.traces.recipe_limits import physical_memory_B, rank_memory_B

    assert 8 * rank_memory_B(GPTConfig()) < min(physical_memory_B(), 8 * 2**30)
    assert rank_memory_B(GPTConfig(d_model=256)) > rank_memory_B(GPTConfig())


def _profile_with_channels(tmp_path: Path, channels: int) -> Path:
    from tests.test_bad_inputs import ROOT

    text = (ROOT / "simulator/data/backends/gloo.yaml").read_text()
    p = tmp_path / f"gloo-{channels}.yaml"
    p.write_text(text.replace("\nchannels: 1\n", f"\nchannels: {channels}\n"))
    return p


def test_run_counts_the_profiles_channels_per_op(tmp_path: Path) -> None:
    """A 1,024-channel profile on gpt3-175b-1024xh100 ran 55 s and more (the op estimate did
    not count the flows each collective runs on every channel)."""
    prof = str(_profile_with_channels(tmp_path, 1024))
    line = _one_error(["run", "gpt3-175b-1024xh100", "--backend", prof, "--json"], prof)
    assert "channels" in line and "op-channels" in line and "--force" in line


def test_the_channel_limit_spares_shipped_profiles_and_analytical_runs(tmp_path: Path) -> None:
    from simulator.collectives import load_backend
    from simulator.config import load_scenario
    from simulator.core.errors import InputError
    from simulator.limits import check_scenario, forced, lifted

    sc = load_scenario("gpt3-175b-1024xh100")
    check_scenario(sc, 1024, profile=load_backend("nccl"))  # 8 channels a host: runs
    big = load_backend(str(_profile_with_channels(tmp_path, 1024)))
    with pytest.raises(InputError, match="op-channels"):
        check_scenario(sc, 1024, profile=big)
    with forced(True):
        check_scenario(sc, 1024, profile=big)  # --force keeps the refusal for the OOM note
        assert lifted() is not None
    check_scenario(sc, 1024, profile=None)  # the analytical fidelity runs no flows


def test_a_gzip_bomb_is_refused_once_inflated_past_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 3 GB inflating .gz trace was decompressed until memory ran out (a hang here)."""
    import gzip

    from simulator.core.errors import InputError
    from simulator.traces import jsonfile

    monkeypatch.setattr(jsonfile, "MAX_TRACE_TEXT_B", 2**20)
    monkeypatch.setattr(jsonfile, "_CHUNK_B", 2**16)
    p = tmp_path / "rank0.trace.json.gz"
    p.write_bytes(gzip.compress(b'{"traceEvents": [], "pad": "' + b"a" * 2**21 + b'"}'))
    with pytest.raises(InputError, match="once inflated") as err:
        jsonfile.read_json_file(p)
    assert err.value.file == str(p)
    p.write_bytes(gzip.compress(b'{"traceEvents": []}'))
    assert jsonfile.read_json_file(p) == {"traceEvents": []}


def test_a_huge_trace_file_is_refused_by_its_size_before_reading(tmp_path: Path) -> None:
    """A 2 GB trace file was read for 16 s and then called "not JSON"."""
    from simulator.core.errors import InputError
    from simulator.traces.jsonfile import MAX_TRACE_TEXT_B, read_json_file

    p = tmp_path / "rank0.trace.json"
    with p.open("wb") as fh:
        fh.write(b'{"traceEvents": [')
        fh.truncate(MAX_TRACE_TEXT_B + 1)  # sparse: no disk used
    with pytest.raises(InputError, match="more than"):
        read_json_file(p)


@pytest.mark.parametrize("kind", ["fifo", "dir", "deep"])
def test_trace_files_that_are_not_files_or_too_deep_are_refused(kind: str, tmp_path: Path) -> None:
    """A FIFO named like a trace blocked ``open`` forever; deep nesting was a RecursionError."""
    import os

    from simulator.core.errors import InputError
    from simulator.traces.jsonfile import read_json_file

    p = tmp_path / "rank0.trace.json"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "dir":
        p.mkdir()
    else:
        p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match=r"regular file|directory|nested") as err:
        read_json_file(p)
    assert err.value.file == str(p)


@pytest.mark.parametrize(
    ("address", "texts"),
    [
        ("tcp://[::1", ("tcp://HOST:PORT",)),  # was exit 70 with a traceback
        ("tcp//127.0.0.1:8786", ("did you mean 'tcp://HOST:PORT'",)),  # was a 10 s timeout
        ("inlin", ("did you mean 'inline'",)),
        ("locall", ("did you mean 'local'",)),
        ("127.0.0.1:99999", ("tcp://HOST:PORT",)),  # was a 10 s timeout
        ("127.0.0.1:1", ("Connection refused",)),  # a bare HOST:PORT is probed as tcp
    ],
)
def test_scheduler_address_slips_are_refused_at_once(address: str, texts: tuple[str, ...]) -> None:
    from simulator.core.errors import InputError
    from simulator.studies.sweep_runner import probe_scheduler

    with pytest.raises(InputError) as err:
        probe_scheduler(address, timeout_s=2.0)
    assert err.value.field == "--scheduler"
    for text in texts:
        assert text in err.value.message, err.value.message


@pytest.mark.parametrize(
    ("argv", "near"),
    [
        (["run", "tiny", "--set", "training.dtype=BF16"], "'bf16'"),  # case: no suggestion
        (["run", "tiny", "--set", "fidelity=Flow"], "'flow'"),
        (["run", "tiny", "--set", "hardware.gpu=h100"], "'H100-SXM'"),
        (["run", "tiny", "--set", "topology=DGX-A100"], "'dgx-a100'"),
        (["run", "tiny", "--set", "backend=NCCL"], "'nccl'"),
        (["topology", "show", "dgx-a10"], "'dgx-a100'"),
        (["collective", "--topology", "dgx-a100", "--op", "AllReduse", "--size", "1MiB"],
         "'all_reduce'"),
        (["collective", "--topology", "dgx-a100", "--op", "all_reduce", "--size", "1MiB",
          "--algo", "rign"], "'ring'"),
        (["validate", "--faults", "al"], "'all'"),
        (["replay", "{fixture}", "--strategy", "dpp"], "'ddp'"),
    ],
)  # fmt: skip
def test_unknown_names_suggest_the_closest_known_one(
    argv: list[str], near: str, tmp_path: Path
) -> None:
    from tests.test_bad_inputs import FIXTURES, TINY

    (tmp_path / "tiny.yaml").write_text(TINY)
    fixture = str(FIXTURES / "ddp-2-gloo")
    argv = [
        str(tmp_path / "tiny.yaml") if a == "tiny" else a.replace("{fixture}", fixture)
        for a in argv
    ]
    _one_error(argv, f"did you mean {near}?")


def test_closest_folds_case_punctuation_and_width() -> None:
    from simulator.core.suggest import closest, hint

    assert closest("ＢＦ16", ["fp16", "bf16"]) == "bf16"
    assert closest("all-reduce", ["all_reduce", "all_gather"]) == "all_reduce"
    assert closest("xyz", ["ring", "tree"]) is None
    assert hint("ring", ["ring"]) == ""  # a known name is not corrected to itself


@pytest.mark.parametrize("kind", ["dir", "fifo"])
def test_a_directory_or_fifo_given_as_a_yaml_file_is_named_as_such(
    kind: str, tmp_path: Path
) -> None:
    """A FIFO or directory given as a scenario said "no such file" (it exists)."""
    import os

    p = tmp_path / "scenario.yaml"
    p.mkdir() if kind == "dir" else os.mkfifo(p)
    _one_error(["run", str(p)], str(p), "expected a YAML file")


@pytest.mark.parametrize(
    ("size", "text"),
    [
        ("0.5", "whole number of bytes"),  # simulated 0.5 bytes
        ("1e-5", "whole number of bytes"),
        ("1.5B", "whole number of bytes"),
        ("-0", "non-negative"),  # read as 0 bytes
        ("1e20", "larger than any catalogue GPU"),  # 100 EB simulated in a blink
        ("1e18GiB", "larger than any catalogue GPU"),
    ],
)
def test_collective_sizes_are_whole_bytes_within_a_gpus_memory(size: str, text: str) -> None:
    argv = ["collective", "--topology", "dgx-a100", "--op", "all_reduce", "--size", size]
    _one_error(argv, "--size", text)


def test_force_lifts_the_message_size_limit() -> None:
    argv = ["collective", "--topology", "dgx-a100", "--op", "all_reduce", "--size", "1TB"]
    _one_error(argv, "--size")
    code, _, err, _ = run_case([*argv, "--force", "--fidelity", "analytical"], 60)
    assert code == 0, err


def _trace_copy(tmp_path: Path, edit: Any) -> Path:
    import json
    import shutil

    from tests.test_bad_inputs import FIXTURES

    d = tmp_path / "tr"
    shutil.copytree(FIXTURES / "nccl-2", d, ignore=shutil.ignore_patterns("real", "traces"))
    f = d / "rank0.trace.json"
    doc = json.loads(f.read_text())
    edit(doc)
    f.write_text(json.dumps(doc))
    return d


def _first_complete(doc: dict[str, Any], key: str, value: object) -> None:
    next(e for e in doc["traceEvents"] if e.get("ph") == "X")[key] = value


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: _first_complete(d, "dur", -5), "traceEvents[2].dur"),  # hid its step
        (lambda d: _first_complete(d, "ts", 1e300), "traceEvents[2].ts"),
        (lambda d: _first_complete(d, "ts", -1e18), "traceEvents[2].ts"),
        (lambda d: d["distributedInfo"].update(rank="zero"), "distributedInfo.rank"),
        (lambda d: d["distributedInfo"].update(rank=-1), "distributedInfo.rank"),
        (lambda d: d["distributedInfo"].update(world_size=0), "distributedInfo.world_size"),
        (lambda d: d["distributedInfo"].update(world_size="2"), "distributedInfo.world_size"),
    ],
)
def test_trace_values_of_the_wrong_sign_size_or_type_are_refused(
    edit: Any, field: str, tmp_path: Path
) -> None:
    """Each was imported silently (a rank taken from the file name, a step lost)."""
    d = _trace_copy(tmp_path, edit)
    _one_error(["replay", str(d), "--fidelity", "analytical"], str(d / "rank0.trace.json"), field)


def test_a_failed_recording_is_one_error_line_not_an_internal_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``validate --d-model 10000000`` died in a rank and printed a traceback with exit 70."""
    import argparse

    from simulator.cli.errors import run_guarded
    from simulator.traces.record import RecordingError

    def fails(_: argparse.Namespace) -> int:
        raise RecordingError("rank 0 exited with status 1; all ranks stopped. Last lines:\nOOM")

    code = run_guarded(fails, argparse.Namespace(command="validate"))
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.splitlines() == [
        "commsim validate: error: rank 0 exited with status 1; all ranks stopped. Last lines: OOM"
    ]


def test_a_topology_without_a_gpu_names_hardware_gpu_once(tmp_path: Path) -> None:
    """The field read ``hardware.hardware.gpu``."""
    from tests.test_bad_inputs import TINY

    topo = tmp_path / "one.yaml"
    topo.write_text("name: one\nnodes:\n  - {name: g0, kind: gpu}\nlinks: []\n")
    sc = tmp_path / "s.yaml"
    sc.write_text(TINY.replace("topology: dgx-a100", f"topology: {topo}").replace("tp: 2", "tp: 1"))
    line = _one_error(["run", str(sc), "--set", "training.global_batch=1"], " hardware.gpu:")
    assert "hardware.hardware" not in line


def _bomb_faults() -> str:
    rows = ["links: []", "l1: &l1 [x, x, x, x, x, x, x, x, x]"]
    rows += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(2, 10)]
    return "\n".join(rows)


@pytest.mark.parametrize(
    ("faults", "texts"),
    [
        ("{d}/nope.yaml", ("--faults", "no such file")),  # read "expected a mapping of faults"
        ("{d}", ("--faults", "not a regular file")),
        ("link_down: []", ("did you mean 'links'?",)),  # "unknown key", no suggestion
        (_bomb_faults(), ("alias bomb",)),  # was an internal error (file name too long)
    ],
)
def test_collective_faults_are_read_with_the_scenario_guards(
    faults: str, texts: tuple[str, ...], tmp_path: Path
) -> None:
    argv = ["collective", "--topology", "dgx-a100", "--op", "all_reduce", "--size", "1MiB"]
    _one_error([*argv, "--faults", faults.replace("{d}", str(tmp_path))], *texts)


@pytest.mark.parametrize(
    "argv",
    [
        ["topology", "show", "{long}"],
        ["run", "{long}"],
        ["replay", "{long}"],
        ["collective", "--topology", "dgx-a100", "--op", "all_reduce", "--size", "1MiB",
         "--backend", "{long}"],
    ],
)  # fmt: skip
def test_a_path_too_long_for_the_os_is_bad_input_not_a_bug(argv: list[str]) -> None:
    """A 300-character name raised ENAMETOOLONG from Path.is_file(): exit 70, a traceback."""
    long = "x" * 300
    _one_error([a.replace("{long}", long) for a in argv], "x" * 50)


def test_a_chakra_et_that_is_a_fifo_is_refused_not_read_forever(tmp_path: Path) -> None:
    import os

    d = tmp_path / "chakra"
    d.mkdir()
    os.mkfifo(d / "x.0.et")
    _one_error(["replay", str(d), "--topology", "dgx-a100"], str(d / "x.0.et"), "regular file")


@pytest.mark.parametrize("kind", ["huge", "deep"])
def test_a_trace_manifest_is_read_with_the_bounded_reader(kind: str, tmp_path: Path) -> None:
    """A 2 GB manifest.json was read whole (11 s); a deeply nested one was a RecursionError."""
    d = _trace_copy(tmp_path, lambda doc: None)
    mf = d / "manifest.json"
    if kind == "huge":
        from simulator.traces.jsonfile import MAX_TRACE_TEXT_B

        with mf.open("wb") as fh:
            fh.write(b'{"world": 2, "x": "')
            fh.truncate(MAX_TRACE_TEXT_B + 1)
    else:
        mf.write_text("[" * 100_000 + "]" * 100_000)
    _one_error(["replay", str(d), "--fidelity", "analytical"], str(mf), "manifest")


def test_a_set_key_deeper_than_yaml_allows_is_refused() -> None:
    """``--set a.a.a...=1`` with 5,000 parts was a RecursionError (exit 70)."""
    from tests.test_bad_inputs import ROOT

    key = ".".join(["a"] * 5000)
    scen = str(ROOT / "scenarios" / "ten-node-stragglers.yaml")
    _one_error(["run", scen, "--set", f"{key}=1"], "--set", "at most 64")


def test_compare_variants_are_bounded(tmp_path: Path) -> None:
    """20,000 ``compare:`` variants ran on past 30 s while still resolving them."""
    from tests.test_bad_inputs import TINY

    rows = "".join(f"  - {{name: v{i}, set: {{strategy.tp: 2}}}}\n" for i in range(101))
    sc = tmp_path / "many.yaml"
    sc.write_text(TINY + "compare:\n" + rows)
    _one_error(["run", str(sc), "--fidelity", "analytical"], "compare", "limit of 100", "sweep")


def test_a_yaml_file_too_big_to_parse_in_a_minute_is_refused_by_its_size(tmp_path: Path) -> None:
    """A 4 MB explicit topology took ~40 s to parse (PyYAML's Python composer, ~100 KB/s);
    the old 64 MiB bound allowed ten minutes."""
    from simulator.safeyaml import MAX_FILE_B

    p = tmp_path / "topo.yaml"
    with p.open("wb") as fh:
        fh.write(b"name: big\n")
        fh.truncate(MAX_FILE_B + 1)
    _one_error(["topology", "show", str(p)], str(p), f"{MAX_FILE_B:,}")


def test_force_lifts_the_yaml_size_bound_up_to_the_old_one(tmp_path: Path) -> None:
    """The 2 MiB bound is a time bound, so ``--force`` lifts it (the user chose to wait), up to
    the 64 MiB bound it replaced; the refusal says so."""
    from simulator.core.errors import InputError
    from simulator.limits import forced, lifted
    from simulator.safeyaml import MAX_FILE_B, MAX_FORCED_FILE_B, read_text

    p = tmp_path / "big.yaml"
    p.write_bytes(b"name: big\n" + b"#" * MAX_FILE_B + b"\n")
    with pytest.raises(InputError, match="--force"):
        read_text(p)
    with forced(True):
        assert read_text(p).startswith("name: big")
        over = lifted()  # kept, to name the file if the forced parse runs out of memory
        assert over is not None and over.file == str(p)
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as fh:
        fh.truncate(MAX_FORCED_FILE_B + 1)
    with forced(True), pytest.raises(InputError, match=r"allowed$"):
        read_text(huge)


def test_a_prices_file_is_read_with_the_yaml_guards(tmp_path: Path) -> None:
    """``plan --prices FIFO`` blocked for ever (plain read_text + yaml.safe_load)."""
    import os

    from tests.test_bad_inputs import TINY

    (tmp_path / "s.yaml").write_text(TINY)
    fifo = tmp_path / "prices.yaml"
    os.mkfifo(fifo)
    argv = ["plan", str(tmp_path / "s.yaml"), "--scheduler", "inline", "--target-step", "10s",
            "--topologies", "dgx-a100", "--prices", str(fifo)]  # fmt: skip
    _one_error(argv, str(fifo), "regular file")
    dup = tmp_path / "dup.yaml"
    dup.write_text("A100-80GB: 2\nA100-80GB: 3\n")
    _one_error([*argv[:-1], str(dup)], "duplicate key")


def test_negative_zero_quantities_are_refused_as_sign_slips(tmp_path: Path) -> None:
    """``latency: -0us`` read as 0 (a topology link with a typed sign)."""
    from simulator.core.units import UnitError, parse_bandwidth, parse_size, parse_time

    for parse, text in ((parse_time, "-0us"), (parse_size, "-0MiB"), (parse_bandwidth, "-0Gbps")):
        with pytest.raises(UnitError, match="non-negative"):
            parse(text)
    assert parse_time("0us") == 0.0
    from tests.test_bad_inputs import CONNECTED

    topo = tmp_path / "t.yaml"
    topo.write_text(CONNECTED.replace("latency: 1us", "latency: -0us", 1))
    _one_error(["topology", "show", str(topo)], "links[0].latency")
