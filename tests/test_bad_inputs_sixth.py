"""Sixth round of bad inputs (session 23): misspelt and outsized values that no issue named,
found by driving every leaf of a scenario, a topology (explicit and ``build:``) and two backend
profiles with the same list of bad values, plus the CLI's flags (docs/decisions.md,
2026-12-06, "bad23").

Each case names the mistake and what happened before the fix. Every CLI case runs ``commsim``
in process (:func:`tests.test_bad_inputs.one_error`): exit 2, no traceback, one error line that
holds the file and the field.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.test_bad_inputs import FIXTURES, ROOT, TINY, one_error, run_case

NCCL = (ROOT / "simulator" / "data" / "backends" / "nccl.yaml").read_text()
GLOO2 = FIXTURES / "ddp-2-gloo"
HUGE = str(10**400)  # past the float range: float() of it raises OverflowError
TWO_GPUS = """\
name: two
nodes:
  - {name: g0, kind: gpu}
  - {name: g1, kind: gpu}
links:
  - {a: g0, b: g1, bandwidth: BW, latency: 1us, kind: nvlink}
"""
COLLECTIVE = ["collective", "--topology", "dgx-a100", "--op", "all_reduce", "--size", "1MiB"]


def _file(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _scenario(tmp_path: Path) -> str:
    return _file(tmp_path, "tiny.yaml", TINY)


# ----------------------------------------------------------------------------- huge integers


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (TWO_GPUS.replace("BW", HUGE), "links[0].bandwidth"),  # OverflowError in the unit check
        (TWO_GPUS.replace("BW", "100Gbps").replace("1us", HUGE), "links[0].latency"),
        (f"name: x\nbuild: {{type: cluster, nodes: {HUGE}}}\n", "build.nodes"),  # in limits
    ],
)
def test_an_integer_past_the_float_range_names_its_field(
    tmp_path: Path, text: str, field: str
) -> None:
    """A 401-digit integer was a traceback (exit 70) wherever it became a float."""
    p = _file(tmp_path, "t.yaml", text)
    one_error(["topology", "show", p], p, f"{field}:", "401 digits")


def test_an_integer_past_pythons_digit_limit_is_one_line(tmp_path: Path) -> None:
    """5,000 digits: PyYAML's int() raised "Exceeds the limit (4300 digits)" (exit 70)."""
    p = _file(tmp_path, "t.yaml", f"name: x\nbuild: {{type: cluster, nodes: 1{'0' * 5000}}}\n")
    one_error(["topology", "show", p], p, "5,001 digits")


@pytest.mark.parametrize("digits", [400, 5000])
def test_a_manifest_integer_past_the_float_range_names_the_file(
    tmp_path: Path, digits: int
) -> None:
    """``"world": 10^5000`` was "malformed trace: ValueError: Exceeds the limit (4300 digits)"
    naming the directory only."""
    d = tmp_path / "tr"
    shutil.copytree(GLOO2, d)
    m = d / "manifest.json"
    m.write_text(m.read_text().replace('"world": 2,', f'"world": 1{"0" * digits},', 1))
    one_error(["replay", str(d)], str(m), f"{digits + 1:,} digits")


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_builder_counts_past_the_int32_range_are_refused_even_forced(
    tmp_path: Path, force: list[str]
) -> None:
    """``nodes: 2^1000, gpus_per_node: 2^1000``: an OverflowError in the rank count, and under
    --force a host list built until the memory ran out; ``chips_per_host: 2^63`` built a
    topology."""
    big = 2**1000
    text = f"name: x\nbuild: {{type: cluster, nodes: {big}, gpus_per_node: {big}}}\n"
    p = _file(tmp_path, "t.yaml", text)
    one_error(["topology", "show", p, *force], p, "build.nodes:", "<= 2,147,483,647")
    text = f"name: x\nbuild: {{type: torus, dims: [2, 2], chips_per_host: {2**63}}}\n"
    p = _file(tmp_path, "u.yaml", text)
    one_error(["topology", "show", p], p, "build.chips_per_host:")


def test_a_huge_set_value_is_clipped_in_the_message(tmp_path: Path) -> None:
    line = one_error(["run", _scenario(tmp_path), "--set", f"strategy.tp={HUGE}"], "--set")
    assert len(line) < 300, line


# ----------------------------------------------------------------------------- rates near zero


@pytest.mark.parametrize("bw", ["1e-300 Gbps", "1 bps", "1e300Gbit/s"])
def test_a_link_bandwidth_outside_1kBps_to_1PBps_is_refused(tmp_path: Path, bw: str) -> None:
    """``bandwidth: 1e-300 Gbps`` predicted a step of 10^296 s (exit 0)."""
    p = _file(tmp_path, "t.yaml", TWO_GPUS.replace("BW", bw))
    one_error(["topology", "show", p], p, "links[0].bandwidth:", "1 kB/s")


def test_a_builder_bandwidth_of_one_bit_per_second_is_refused(tmp_path: Path) -> None:
    p = _file(tmp_path, "t.yaml", "name: x\nbuild: {type: cluster, nic_bandwidth: 1 bps}\n")
    one_error(["topology", "show", p], p, "build.nic_bandwidth:", "at least 1e+03 bytes/s")


def test_the_slowest_link_allowed_still_loads(tmp_path: Path) -> None:
    p = _file(tmp_path, "t.yaml", TWO_GPUS.replace("BW", "8 kbit/s"))
    assert run_case(["topology", "show", p])[0] == 0


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("  nvlink: 0.767", "  nvlink: 1.0e-300", "efficiency.nvlink"),  # 3.9e296 s
        (
            "    bandwidth_factor: 1.0\n",
            "    bandwidth_factor: 1.0e-300\n",
            "protocols.simple.bandwidth_factor",
        ),
    ],
)
def test_backend_efficiencies_near_zero_are_refused(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    assert old in NCCL
    p = _file(tmp_path, "prof.yaml", NCCL.replace(old, new, 1))
    one_error(["collective", *COLLECTIVE[1:], "--backend", p], p, f"{field}:", "[0.001, 1]")


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("hardware.mfu", "1e-300", "[0.001, 1]"),  # compute of 2e296 s
        ("network.bandwidth_scale.nvlink", "1e-300", "below the limit"),  # 1e296 s
        ("strategy.data_parallel.bucket_size", "1e308", "1 EiB"),  # one bucket, unsaid
        ("strategy.data_parallel.bucket_size", "2EiB", "1 EiB"),
        ("reference.step_time_s", "1e308", "86400"),  # an error of -100 %, unsaid
    ],
)
def test_scenario_values_near_zero_or_past_any_cluster(
    tmp_path: Path, key: str, value: str, text: str
) -> None:
    s = _scenario(tmp_path)
    one_error(["run", s, "--set", f"{key}={value}"], s, f"{key}:", text)


# ----------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("faults", "field", "text"),
    [
        # step times nan/inf: "Out of range float values are not JSON compliant" (exit 70)
        ("{stalls: [{ranks: [0], duration: 1e308s, every: 1}]}", "stalls[0].duration", "86400"),
        ("{jitter: {distribution: exponential, mean: 1e308}}", "jitter.mean", "1000"),
        # a step of 3e304 s (exit 0), and a factor written as text read as a number
        ("{slow_ranks: [{ranks: [1], compute_factor: 1e308}]}", "compute_factor", "1000"),
        ("{slow_ranks: [{ranks: [1], compute_factor: '2'}]}", "compute_factor", "a number"),
        # a link at 6e-289 B/s: a step of 4.5e295 s (exit 0)
        (
            "{links: [{link: 0, state: degraded, bandwidth_factor: 1e-300}]}",
            "bandwidth_factor",
            "1000",
        ),
        # the message never arrived: "deadlock" (exit 1)
        (
            "{links: [{link: 0, state: degraded, added_latency: 1e308s}]}",
            "added_latency",
            "86400",
        ),
        ("{links: [{link: 0, state: degraded, added_latency: 11s}]}", "added_latency", "10 s"),
        ("{background: [{link: 0, load: 0.99999999999999}]}", "background.0.load", "1000"),
    ],
)
def test_faults_that_overflow_a_step_are_refused(
    tmp_path: Path, faults: str, field: str, text: str
) -> None:
    s = _scenario(tmp_path)
    argv = ["run", s, "--json", "--steps", "2", "--set", f"faults={faults}"]
    one_error(argv, s, field, text)


# ----------------------------------------------------------------------------- misspelt names


def test_a_misspelt_required_model_key_is_named_with_the_close_match(tmp_path: Path) -> None:
    """``layesr: 4`` said "model.layers: required field missing", the typo not named."""
    s = _file(tmp_path, "t.yaml", TINY.replace("layers:", "layesr:"))
    one_error(["run", s], s, "model.layesr: unknown key", "did you mean 'layers'")


def test_a_misspelt_builder_type_key_is_named(tmp_path: Path) -> None:
    """``tyep: cluster`` said "unknown builder None"."""
    p = _file(tmp_path, "t.yaml", "name: x\nbuild: {tyep: cluster}\n")
    one_error(["topology", "show", p], p, "build.type:", "'tyep'")


@pytest.mark.parametrize(
    ("gpu", "text"), [("A100-80G", "did you mean 'A100-80GB'"), ("7", "expected a GPU name")]
)
def test_a_topologys_gpu_is_checked_in_its_own_file(tmp_path: Path, gpu: str, text: str) -> None:
    """A misspelt ``metadata: {gpu: ...}`` was blamed on the scenario's hardware.gpu, and
    ``gpu: 7`` showed and ran collectives without a word."""
    topo = TWO_GPUS.replace("BW", "100Gbps") + f"metadata: {{gpu: {gpu}}}\n"
    p = _file(tmp_path, "t.yaml", topo)
    one_error(["topology", "show", p], p, "metadata.gpu:", text)


def test_a_null_model_section_says_a_mapping(tmp_path: Path) -> None:
    """``--set model=~`` said "Input should be a dictionary or an instance of ModelShape"."""
    s = _scenario(tmp_path)
    one_error(["run", s, "--set", "model=~"], s, "model: expected a mapping, got None")


def test_a_link_kind_in_another_case_suggests_the_right_one(tmp_path: Path) -> None:
    s = _scenario(tmp_path)
    one_error(["run", s, "--set", "network.bandwidth_scale.NVLink=2"], s, "did you mean 'nvlink'")


@pytest.mark.parametrize("where", ["name: ''", "host: ''"])
def test_empty_topology_names_are_refused(tmp_path: Path, where: str) -> None:
    text = TWO_GPUS.replace("BW", "100Gbps")
    text = (
        text.replace("name: two", where)
        if where.startswith("name")
        else text.replace("{name: g0, kind: gpu}", "{name: g0, kind: gpu, host: ''}")
    )
    p = _file(tmp_path, "t.yaml", text)
    one_error(["topology", "show", p], p, "expected a non-empty string")


# ----------------------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--size", "2MiB"], "--size"),  # ran 2 MiB, the 1 MiB dropped unsaid
        (["--fidelity", "flow", "--fidelity", "analytical"], "--fidelity"),
        (["--topology", "dgx-h100"], "--topology"),
    ],
)
def test_a_single_valued_flag_given_twice_is_refused(extra: list[str], flag: str) -> None:
    one_error([*COLLECTIVE, *extra], flag, "given twice")


def test_a_set_key_given_twice_is_refused(tmp_path: Path) -> None:
    s = _scenario(tmp_path)
    one_error(["run", s, "--set", "strategy.tp=1", "--set", "strategy.tp=2"], "--set", "twice")


def test_a_key_both_varied_and_set_is_refused(tmp_path: Path) -> None:
    s = _scenario(tmp_path)
    argv = ["sweep", s, "--vary", "strategy.tp=1,2", "--set", "strategy.tp=4"]
    one_error([*argv, "--scheduler", "inline"], "--vary", "strategy.tp is both varied and set")


@pytest.mark.parametrize(
    ("extra", "flag", "text"),
    [
        (["--root", "-1"], "--root", "0..7"),  # "algo: no algorithm of backend nccl can run"
        (["--chunks", str(2**63)], "--chunks", "2,147,483,647"),  # accepted (flow fidelity)
        (["--ranks", "0-7,7"], "--ranks", "rank 7 listed twice"),  # said "ranks:", not the flag
    ],
)
def test_collective_flags_name_themselves(extra: list[str], flag: str, text: str) -> None:
    one_error([*COLLECTIVE, *extra], flag, text)


@pytest.mark.parametrize(
    ("vary", "texts"),
    [
        ("strategy.tp=[1,2]", ("--vary strategy.tp:", "split at commas")),  # named --set
        ("fidelity=flow,flwo", ("--vary fidelity:", "did you mean 'flow'")),  # a point kept
        ("strategy.tp=1.5,2", ("--vary strategy.tp:", "positive integer")),
    ],
)
def test_a_varied_value_wrong_in_itself_is_refused_before_the_sweep(
    tmp_path: Path, vary: str, texts: tuple[str, ...]
) -> None:
    s = _scenario(tmp_path)
    one_error(["sweep", s, "--vary", vary, "--scheduler", "inline"], *texts)


def test_values_that_fail_only_together_stay_points(tmp_path: Path) -> None:
    """pp=3 does not divide the 4 layers of TINY: a point that cannot run, not a refusal."""
    s = _scenario(tmp_path)
    code, out, err, _ = run_case(
        ["sweep", s, "--vary", "strategy.pp=1,3", "--scheduler", "inline", "--json"], 60
    )
    assert code == 0, err
    points = json.loads(out)["points"]
    assert [("error" in p) for p in points] == [False, True]


def test_a_record_bucket_past_any_memory_is_refused(tmp_path: Path) -> None:
    """``--bucket-cap-mb 1e308`` was written into record_config.json (exit 0)."""
    out = tmp_path / "rec"
    argv = ["record", "--world", "2", "--strategy", "ddp", "--out", str(out), "--emit-config"]
    one_error([*argv, "--bucket-cap-mb", "1e308"], "--bucket-cap-mb", "1 EiB")
    assert not out.exists()


def test_a_price_past_any_cloud_is_refused(tmp_path: Path) -> None:
    """``A100-80GB: 1e308`` printed a 300-digit cost per step (exit 0)."""
    prices = _file(tmp_path, "prices.yaml", "A100-80GB: 1e308\n")
    argv = ["plan", _scenario(tmp_path), "--target-step", "1s", "--topologies", "dgx-a100"]
    argv += ["--scheduler", "inline", "--tp", "2", "--pp", "1", "--prices", prices]
    one_error(argv, prices, "A100-80GB:", "at most 10,000")


# ----------------------------------------------------------------------------- unwritable outputs


def test_a_chakra_out_that_cannot_be_made_names_the_flag(tmp_path: Path) -> None:
    """``run --chakra-out /proc/x`` was a traceback (exit 70); ``replay`` blamed the trace
    ("malformed trace: PermissionError")."""
    s = _scenario(tmp_path)
    one_error(["run", s, "--chakra-out", "/proc/commsim-x"], "--chakra-out", "cannot write")
    argv = ["replay", str(GLOO2), "--chakra-out", "/proc/commsim-x"]
    one_error(argv, "/proc/commsim-x", "--chakra-out", "cannot write")


def test_a_sweep_plot_that_cannot_be_written_names_the_flag(tmp_path: Path) -> None:
    s = _scenario(tmp_path)
    argv = ["sweep", s, "--vary", "strategy.tp=1,2", "--scheduler", "inline"]
    one_error([*argv, "--plot", "/proc/commsim-x.png"], "--plot", "cannot write")


def test_refused_inputs_are_left_as_they_were(tmp_path: Path) -> None:
    p = Path(_file(tmp_path, "t.yaml", TWO_GPUS.replace("BW", "1 bps")))
    before = p.read_bytes()
    one_error(["topology", "show", str(p)], str(p))
    assert p.read_bytes() == before
    assert re.search(r"bps", before.decode())
