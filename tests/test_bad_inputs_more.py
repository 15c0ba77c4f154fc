"""Bad inputs found after the first table (tests/test_bad_inputs.py): each test one mistake a
user can make, fixed in general (docs/decisions.md, "bad inputs: left over").

Every refusal is one line on stderr naming the file and the field, exit status 2, no
traceback; every case stays far below the time of a hang.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from test_bad_inputs import one_error, run_case

from simulator import limits
from simulator.faults.network import _Resolved

ROOT = Path(__file__).resolve().parent.parent


_refused = one_error


# ------------------------------------------------------------ background on/off (faults)


@pytest.mark.parametrize(
    ("on", "off", "start"),
    [(0.05, 0.05, 0.0), (0.001, 0.002, 0.0), (0.1, 0.2, 0.3), (1e-3, 1e-3, 0.0)],
)
def test_on_off_changes_always_move_the_clock(on: float, off: float, start: float) -> None:
    """``0.25 / 0.1`` floors to cycle 2 with a phase just below 0.05: the old next change was
    0.25 itself and the engine waited zero seconds for it forever (a run that never ended)."""
    r = _Resolved((0,), False, 0.5, 0.0, start, "bg", (on, off))
    t, states, times = 0.0, [r.active(0.0)], []
    for _ in range(2000):
        nxt = r.next_change(t)
        assert nxt > t
        t = nxt
        states.append(r.active(t))
        times.append(t)
    # the source alternates at every change, on for `on` and off for `off` seconds
    assert all(a != b for a, b in itertools.pairwise(states))
    lengths = [b - a for a, b in itertools.pairwise(times)]
    for now_on, length in zip(states[1:], lengths, strict=False):
        assert length == pytest.approx(on if now_on else off, rel=1e-6)


def _background_scenario(d: Path, on: str, off: str) -> Path:
    text = (ROOT / "scenarios" / "ten-node-stragglers.yaml").read_text()
    text = text.replace(
        "  jitter: {distribution: lognormal, sigma: 0.1}\n",
        "  jitter: {distribution: lognormal, sigma: 0.1}\n"
        f"  background: [{{link: 0, load: 0.3, 'on': {on}, 'off': {off}}}]\n",
    )
    text = text[: text.index("compare:")]  # one variant: the sync all-reduce
    p = d / "bg.yaml"
    p.write_text(text)
    return p


def test_fast_background_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1 ms / 2 ms background over a 0.65 s step makes 430 changes; with the limit at 100 it
    is refused naming the background, its cycle and what to change."""
    p = _background_scenario(tmp_path, "1ms", "2ms")
    monkeypatch.setattr(limits, "MAX_RATE_SWITCHES", 100)
    line = _refused(
        ["run", str(p)], str(p), "faults.background.0", "101 link-rate changes", "lengthen on"
    )
    assert "--force" in line
    code, out, err, _ = run_case(["run", str(p), "--json", "--force"], 30)
    assert code == 0, err
    assert '"step_time_s"' in out


def test_background_under_the_limit_runs(tmp_path: Path) -> None:
    p = _background_scenario(tmp_path, "50ms", "50ms")
    code, _out, err, _ = run_case(["run", str(p), "--json"], 30)
    assert code == 0, err


# ------------------------------------------------------------ collective: the channels used


def _profile(d: Path, channels: int) -> Path:
    text = (ROOT / "simulator/data/backends/nccl.yaml").read_text()
    assert "\nchannels: 0\n" in text
    p = d / f"nccl-{channels}ch.yaml"
    p.write_text(text.replace("\nchannels: 0\n", f"\nchannels: {channels}\n"))
    return p


def test_collective_limit_reads_the_profiles_channels(tmp_path: Path) -> None:
    """The flow limit read --channels only: a profile's own 1,024 channels on 1,024 ranks
    (2.1 M flows) went through where ``--channels 1024`` is refused."""
    p = _profile(tmp_path, 1024)
    argv = ["collective", "--topology", "h100-superpod-1024", "--op", "all_reduce"]
    argv += ["--size", "1GiB", "--fidelity", "flow", "--backend", str(p)]
    _refused(argv, f"{p}: channels:", "1,024 channels", "flows")
    _refused([*argv[:-2], "--channels", "1024"], "--channels", "flows")
    code, _, err, _ = run_case([*argv, "--channels", "2"], 30)  # the flag overrides the profile
    assert code == 0, err


def test_pairwise_flows_do_not_multiply_by_channels() -> None:
    """A direct all-to-all sends one flow per pair whatever the channels
    (simulator.collectives.direct), so ``--channels 8`` on 256 ranks is no bigger."""
    limits.check_collective(256, 8, 1, "flow", op="all_to_all")
    with pytest.raises(Exception, match="flows"):
        limits.check_collective(1024, 1, 1, "flow", op="all_to_all")


# ------------------------------------------------------------ integers a machine can hold


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model.app.decoder_layers", "1000000000000000000000000000000"),
        ("model.layers", "1000000000000000000000000000000"),
        ("model.hidden", "2147483648"),
        ("training.global_batch", "1000000000000000000000000000000"),
        ("strategy.parameter_server.steps", "1000000000000000000000000000000"),
    ],
)
def test_integer_fields_are_bounded_even_with_force(key: str, value: str) -> None:
    """``--force`` lifts the size limits; ``decoder_layers: 10^30`` then ended in an
    ``OverflowError`` (exit 70). Every integer field is now at most 2^31 - 1."""
    argv = ["run", "nmt-transformer-big-dgx1", "--force", "--json", "--set", f"{key}={value}"]
    _refused(argv, "nmt-transformer-big-dgx1.yaml", key, "<= 2,147,483,647")


def test_fault_rank_ranges_are_bounded_before_listing() -> None:
    """``ranks: "0-1000000000000"`` listed 10^12 ranks before checking any."""
    faults = "faults={stalls: [{ranks: '0-1000000000000', every: 2, duration: 1ms}]}"
    _refused(["run", "nmt-transformer-big-dgx1", "--set", faults], "faults.stalls[0].ranks")


def test_out_of_memory_after_force_names_the_lifted_limit() -> None:
    """A job ``--force`` let past a limit that then exhausts memory is the user's choice: one
    line naming the limit's file and field, exit 2 (it was an internal error, exit 70)."""
    import argparse

    from simulator.cli.errors import EXIT_BUG, EXIT_INPUT, run_guarded

    def job(_: argparse.Namespace) -> int:
        limits.check_limit(1e9, 10, "ops", field="model.layers", file="x.yaml")
        raise MemoryError

    args = argparse.Namespace(command="run")
    with limits.forced(True):
        assert run_guarded(job, args) == EXIT_INPUT
    with limits.forced(False):  # not forced: the limit refuses first
        assert run_guarded(job, args) == EXIT_INPUT

    def bug(_: argparse.Namespace) -> int:
        raise MemoryError  # no limit lifted: still a bug

    with limits.forced(True):
        assert run_guarded(bug, args) == EXIT_BUG


def test_out_of_memory_message(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from simulator.cli.errors import run_guarded

    def job(_: argparse.Namespace) -> int:
        limits.check_limit(1e9, 10, "ops", field="model.layers", file="x.yaml")
        raise MemoryError

    with limits.forced(True):
        run_guarded(job, argparse.Namespace(command="run"))
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "commsim run: error: x.yaml: model.layers: ran out of memory after --force lifted a "
        "size limit: would build about 1e+09 ops, more than the limit of 10; check this value"
    ]


def test_an_outsized_application_model_is_refused_before_building() -> None:
    """``image_channels: 2e9`` (under the integer bound) built 2.5 M bucket all-reduces per
    GAN phase and ran past 100 s: the app's own parameter count is now estimated first."""
    argv = ["run", "gan-dcgan-dgx1", "--json", "--set", "model.app.image_channels=2000000000"]
    _refused(argv, "gan-dcgan-dgx1.yaml", "strategy.data_parallel.bucket_size", "model.app")


# ------------------------------------------------------------ unit spellings in topologies

_LINK_TOPOLOGY = """\
name: u
nodes:
  - {{name: g0, kind: gpu}}
  - {{name: g1, kind: gpu}}
  - {{name: sw, kind: switch}}
links:
  - {{a: g0, b: sw, bandwidth: {bw}, latency: {lat}, kind: ethernet}}
  - {{a: g1, b: sw, bandwidth: 100Gbps, latency: 1us, kind: ethernet}}
"""


@pytest.mark.parametrize(
    ("bw", "bps"),
    [
        ('"400 Gb/s"', 50e9),
        ('"1.6Tbps"', 200e9),
        ('"25 GB/s"', 25e9),
        ('"3.2e12 bit/s"', 400e9),
        ('"400 Gbit/s"', 50e9),
        ('"400 Gbits/s"', 50e9),
        ('"50GB/sec"', 50e9),
        ('"1.6 TB/s"', 1.6e12),
        ('"400 GiB/s"', 400 * 2.0**30),
        ('"400 Gb / s"', 50e9),
        ('"25GBps"', 25e9),
        ("50e9", 50e9),  # a bare number is bytes/s
    ],
)
def test_topology_bandwidth_spellings_read_right(tmp_path: Path, bw: str, bps: float) -> None:
    from simulator.topology import load_topology

    p = tmp_path / "u.yaml"
    p.write_text(_LINK_TOPOLOGY.format(bw=bw, lat="1us"))
    assert load_topology(str(p)).links[0].bandwidth_Bps == pytest.approx(bps)


@pytest.mark.parametrize(
    ("bw", "lat", "field"),
    [
        ("400", "1us", "links[0].bandwidth"),  # 400 Gbps meant; was 400 B/s, silently
        ('"400"', "1us", "links[0].bandwidth"),
        ('"400 GBit/s"', "1us", "links[0].bandwidth"),  # bits or bytes? refused
        ('"50 GBytes/s"', "1us", "links[0].bandwidth"),
        ('"400 gbps"', "1us", "links[0].bandwidth"),
        ('"400G"', "1us", "links[0].bandwidth"),
        ('"10 GbE"', "1us", "links[0].bandwidth"),
        ('"400 GB"', "1us", "links[0].bandwidth"),
        ('"1,000 Mbps"', "1us", "links[0].bandwidth"),
        ('"100Gbps"', "5", "links[0].latency"),  # 5 us meant; was 5 s, silently
        ('"100Gbps"', '"2"', "links[0].latency"),
        ('"100Gbps"', '"1 usec"', "links[0].latency"),
        ('"100Gbps"', '"1 US"', "links[0].latency"),
    ],
)
def test_topology_unit_slips_are_refused_naming_the_field(
    tmp_path: Path, bw: str, lat: str, field: str
) -> None:
    p = tmp_path / "u.yaml"
    p.write_text(_LINK_TOPOLOGY.format(bw=bw, lat=lat))
    _refused(["topology", "show", str(p)], str(p), field)


@pytest.mark.parametrize(
    ("param", "field"),
    [("nic_bandwidth: 400", "build.nic_bandwidth"), ("switch_latency: 2", "build.switch_latency")],
)
def test_builder_parameters_without_a_unit_are_refused(
    tmp_path: Path, param: str, field: str
) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(f"name: c\nbuild: {{type: cluster, nodes: 2, {param}}}\n")
    _refused(["topology", "show", str(p)], str(p), field, "without a unit")
    ok = tmp_path / "ok.yaml"  # with the unit suffix the number states its unit
    ok.write_text("name: c\nbuild: {type: cluster, nodes: 2, nic_bandwidth_Bps: 5.0e10}\n")
    code, _, err, _ = run_case(["topology", "show", str(ok)])
    assert code == 0, err


def test_profile_latency_without_a_unit_is_refused(tmp_path: Path) -> None:
    """Every latency field (simulator.core.schema.LatencyS) refuses a bare 5 (5 s)."""
    text = (ROOT / "simulator/data/backends/nccl.yaml").read_text()
    assert "base_latency: 6.6us" in text
    p = tmp_path / "slow.yaml"
    p.write_text(text.replace("base_latency: 6.6us", "base_latency: 5", 1))
    argv = ["collective", "--topology", "dgx-a100", "--op", "all_reduce", "--size", "1MiB"]
    _refused([*argv, "--backend", str(p)], str(p), "base_latency", "without a unit")


def test_fault_added_latency_without_a_unit_is_refused() -> None:
    faults = "faults={links: [{link: 0, state: degraded, added_latency: 5}]}"
    _refused(["run", "ten-node-stragglers", "--set", faults], "added_latency", "without a unit")


# ------------------------------------------------------------ YAML 1.1 surprises


@pytest.mark.parametrize(
    ("text", "shown"),
    [("duration: 1:30", "1:30 as a base-60 number, 90"), ("n: 010", "010 as an octal number, 8")],
)
def test_yaml11_numbers_that_read_otherwise_are_refused(text: str, shown: str) -> None:
    """A stall ``duration: 1:30`` was read as 90 s, silently (YAML 1.1's base 60)."""
    from simulator.core.errors import InputError
    from simulator.safeyaml import load_yaml_text

    with pytest.raises(InputError, match=shown):
        load_yaml_text(text, "f.yaml")
    key = text.split(":")[0]
    assert load_yaml_text(f"{key}: '{text.split(': ')[1]}'", "f.yaml") == {
        key: text.split(": ")[1]
    }  # quoted: text
    assert load_yaml_text("n: [01, 7, 0, 10, 1_000, 0x10]") == {"n": [1, 7, 0, 10, 1000, 16]}


def test_on_off_keys_stay_names() -> None:
    """``on: 1ms`` in a background was the key True ("Keys should be strings")."""
    from simulator.safeyaml import load_yaml_text

    got = load_yaml_text("{on: 1ms, off: 2ms, yes: 1, v: on, true: 2}")
    assert got == {"on": "1ms", "off": "2ms", "yes": 1, "v": True, True: 2}


def test_background_with_plain_on_off_keys_runs(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "ten-node-stragglers.yaml").read_text()
    text = (
        text[: text.index("compare:")]
        + "  background: [{link: 0, load: 0.3, on: 50ms, off: 50ms}]\n"
    )
    p = tmp_path / "bg.yaml"
    p.write_text(text)
    code, _, err, _ = run_case(["run", str(p), "--json"], 30)
    assert code == 0, err


# ------------------------------------------------------------ sweep grids


def test_a_huge_sweep_grid_is_refused_before_listing_it() -> None:
    """2,000 x 2,000 values spent a minute resolving points before the first one ran."""
    many = ",".join(str(i) for i in range(1, 2001))
    argv = ["sweep", "ten-node-sync-vs-async", "--scheduler", "inline"]
    argv += ["--vary", f"strategy.dp={many}", "--vary", f"training.micro_batch={many}"]
    _refused(argv, "--vary", "4e+06 sweep points", "--force")


def test_too_many_local_workers_are_refused() -> None:
    """``--workers 100000`` started worker processes until killed."""
    argv = ["sweep", "ten-node-sync-vs-async", "--vary", "strategy.dp=2,5", "--workers", "100000"]
    _refused(argv, "--workers", "worker processes")


# ------------------------------------------------------------ plan


def test_a_huge_plan_grid_is_refused() -> None:
    """``--tp`` and ``--pp`` of 5,000 values each (25 M points) ran past a minute."""
    many = ",".join(str(i) for i in range(1, 5001))
    argv = ["plan", "ten-node-sync-vs-async", "--scheduler", "inline", "--target-step", "10s"]
    argv += ["--topologies", "ten-node-10gbe", "--tp", many, "--pp", many]
    _refused(argv, "--tp", "sweep points")


def test_repeated_plan_candidates_count_once() -> None:
    """3,000 copies of one topology were loaded and planned 3,000 times."""
    import json

    argv = ["plan", "ten-node-sync-vs-async", "--scheduler", "inline", "--target-step", "10s"]
    argv += ["--topologies", ",".join(["ten-node-10gbe"] * 3000), "--tp", "1,1", "--pp", "1"]
    code, out, err, _ = run_case([*argv, "--json"], 30)
    assert code == 0, err
    assert len(json.loads(out)["points"]) == 1


# ------------------------------------------------------------ validate's rig flags


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--steps", "0"], "--steps"),
        (["--warmup", "-1"], "--warmup"),
        (["--layers", "0"], "--layers"),
        (["--d-model", "255"], "--d-model"),
        (["--batch", "3"], "microbatches"),
        (["--timeout", "nan"], "--timeout"),
        (["--tiers", ","], "--tiers"),
        (["--what-if", "rig-9host"], "--what-if"),
        (["--what-if", "dgx-a100"], "--what-if"),
        (["--what-if", "rig-4host-flat"], "--what-if"),  # 4 hosts for rig-2host's 2
        # tier 3 of pp on 3 hosts with 4 layers: refused after every recording was made
        (["--topology", "rig-3host", "--strategies", "pp"], "--layers"),
        (["--topology", "dgx-a100"], "--topology"),
        (["--faults", "slow-nic@99"], "--faults"),
        (["--backend", "nosuch"], "backend"),
    ],
)
def test_validate_rig_flags_are_checked_before_the_rig(
    monkeypatch: pytest.MonkeyPatch, flags: list[str], field: str
) -> None:
    """Each of these reached the rig (namespaces, then minutes of recording) unchecked."""
    import simulator.rig.netns as netns
    import simulator.studies.rig_validation as rv

    def no_rig(*_: object, **__: object) -> None:
        raise AssertionError("reached the rig")

    monkeypatch.setattr(netns, "check_support", no_rig)
    monkeypatch.setattr(rv, "validate_rig", no_rig)
    _refused(["validate", *flags], field)


def test_the_sweep_library_bounds_its_grid_too() -> None:
    """Notebooks call simulator.studies.sweep/plan directly, past the CLI's checks."""
    from simulator.core.errors import InputError
    from simulator.studies import sweep

    many = [str(i) for i in range(1, 2001)]
    with pytest.raises(InputError, match="sweep points"):
        sweep("ten-node-sync-vs-async", [("training.seq_len", many), ("strategy.dp", many)])


@pytest.mark.parametrize(
    ("text", "match"),
    [("1kib", "ambiguous"), ("400 kib/s", "ambiguous"), ("3b", "0.375 bytes"), ("1b", "whole")],
)
def test_size_spellings_that_read_as_bits_by_a_slip_are_refused(text: str, match: str) -> None:
    """``1kib`` read as 128 bytes (kibibits) and ``3b`` as 0.375 bytes, silently."""
    from simulator.core.units import UnitError, parse_bandwidth, parse_size

    parse = parse_bandwidth if "/s" in text else parse_size
    with pytest.raises(UnitError, match=match):
        parse(text)
    assert parse_size("1Kib") == 128.0 and parse_size("8b") == 1.0  # the IEC spelling: bits


def test_exponent_numbers_are_numbers() -> None:
    """``load: 1e-3`` was the string '1e-3' (YAML 1.1) and refused as "expected a number"."""
    from simulator.safeyaml import load_yaml_text

    got = load_yaml_text("{a: 1e-3, b: 5e9, c: 1.5e3, d: -2E-2, e: '1e3', f: 1e3x}")
    assert got == {"a": 1e-3, "b": 5e9, "c": 1.5e3, "d": -2e-2, "e": "1e3", "f": "1e3x"}
    code, _, err, _ = run_case(
        ["run", "ten-node-stragglers", "--json", "--set", "faults.jitter.sigma=5e-2"], 30
    )
    assert code == 0, err
