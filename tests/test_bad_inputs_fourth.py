"""Fourth round of bad inputs (session 21): what a scripted sweep of every command and input
format found past the first three rounds.

Each case names the mistake and what happened before the fix. Every case runs ``commsim`` in
process (:func:`tests.test_bad_inputs.one_error`): exit 2, no traceback, one error line that
holds the file and the field.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.test_bad_inputs import FIXTURES, ROOT, TINY, one_error, run_case

NCCL2 = FIXTURES / "nccl-2"
GLOO2 = FIXTURES / "ddp-2-gloo"


def _file(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# ----------------------------------------------------------------------------- topology files


@pytest.mark.parametrize(
    ("build", "field", "text"),
    [
        # ``name: 1e400`` is a float inf to the loader: --json broke on it (exit 70)
        ("{type: cluster, name: 1e400}", "build.name", "non-empty string"),
        ("{type: dgx1_node, name: [1]}", "build.name", "non-empty string"),  # unhashable list
        ("{type: cluster, nodes: true}", "build.nodes", "integer"),  # one node
        ("{type: cluster, gpus_per_switch: abc}", "build.gpus_per_switch", "integer"),
        ("{type: cluster, pod_leaves: -1}", "build.pod_leaves", ">= 0"),
        ("{type: torus, dims: [2, true]}", "build.dims[1]", "integer"),
        ("{type: cluster, oversubscription: true}", "build.oversubscription", "number"),
        # 1e30 B/s made networkx's min-cut for the bisection fail with an IndexError
        (
            "{type: two_datacenters, nic_bandwidth_Bps: 1000000000000000000000000000000}",
            "build.nic_bandwidth_Bps",
            "1 PB/s",
        ),
        ("{type: cluster, nic_bandwidth: 1e300Gbit/s}", "build.nic_bandwidth", "1 PB/s"),
    ],
)
def test_builder_parameters_are_checked_against_their_types(
    tmp_path: Path, build: str, field: str, text: str
) -> None:
    p = _file(tmp_path, "t.yaml", f"name: t\nbuild: {build}\n")
    one_error(["topology", "show", p, "--json"], p, f"{field}:", text)


def test_an_explicit_link_of_an_hour_is_refused(tmp_path: Path) -> None:
    links = "links:\n  - {a: g0, b: g1, bandwidth: 100Gbps, latency: 1h, kind: ethernet}\n"
    nodes = "nodes:\n  - {name: g0, kind: gpu}\n  - {name: g1, kind: gpu}\n"
    p = _file(tmp_path, "t.yaml", "name: t\n" + nodes + links)
    one_error(["topology", "show", p], p, "links[0]", "10 s")


def test_a_recursive_anchor_is_one_line(tmp_path: Path) -> None:
    """``metadata: &m [*m]`` composed a list holding itself: a RecursionError traceback."""
    p = _file(tmp_path, "t.yaml", "name: t\nbuild: {type: dgx_node}\nmetadata: &m [*m]\n")
    one_error(["topology", "show", p], p, "recursive anchor")
    s = _file(tmp_path, "s.yaml", TINY + "description: &d [*d]\n")
    one_error(["run", s], s, "recursive anchor")
    tiny = _file(tmp_path, "tiny.yaml", TINY)
    one_error(["run", tiny, "--set", "description=&a [*a]"], "--set", "recursive anchor")


# ----------------------------------------------------------------------------- scenarios


@pytest.mark.parametrize(
    ("extra", "field", "text"),
    [
        ("compare: 5\n", "compare", "expected a list"),  # TypeError: 'int' is not iterable
        ("compare: [{name: ' ', set: {strategy.tp: 1}}]\n", "compare[0].name", "a name"),
        ("hardware: {gpu: ''}\n", "hardware.gpu", "a name"),
        ("faults: {slow_ranks: [{ranks: 0, compute_factor: true}]}\n", "compute_factor", "true"),
        ("faults: {links: [{link: true}]}\n", "faults.links[0].link", "true"),
        ("faults: {stalls: [{ranks: 0, every: true, duration: 1ms}]}\n", "every", "true"),
        ("network: {bandwidth_scale: {nvlink: 1.0e+30}}\n", "bandwidth_scale.nvlink", "1 PB/s"),
        ("network: {latency_scale: {nvlink: 1.0e+30}}\n", "latency_scale.nvlink", "10 s"),
    ],
)
def test_scenario_sections(tmp_path: Path, extra: str, field: str, text: str) -> None:
    p = _file(tmp_path, "s.yaml", TINY + extra)
    one_error(["run", p, "--fidelity", "analytical", "--json"], p, field, text)


# ----------------------------------------------------------------------------- flags


@pytest.mark.parametrize(
    ("argv", "texts"),
    [
        # '' was read as "not given": --sizes '' ran --size None, --ranks '' every rank
        (["--sizes", ""], ("--sizes", "empty")),
        (["--size", "1MiB", "--ranks", " "], ("--ranks", "empty")),
        (["--size", "1MiB", "--backend", ""], ("--backend", "empty")),
        # the simulator's own check named 'op', a field the user never wrote
        (["--size", "1MiB", "--op", "allreduc"], ("--op", "did you mean 'all_reduce'")),
        (["--size", "1MiB", "--algo", "rnig"], ("--algo", "did you mean 'ring'")),
        (["--size", "1MiB", "--faults", "no/such/faults"], ("--faults", "no such file")),
    ],
)
def test_collective_flags(argv: list[str], texts: tuple[str, ...]) -> None:
    base = ["collective", "--topology", "dgx-a100"]
    if "--op" not in argv:
        base += ["--op", "all_reduce"]
    one_error([*base, *argv], *texts)


def test_an_empty_positional_names_it() -> None:
    one_error(["run", ""], "SCENARIO", "empty")
    one_error(["run", "tiny", "--set", ""], "--set", "empty")


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--timeout", "1e30"), ("--lost-after", "nan"), ("--timeout", "0")],
)
def test_sweep_waits_are_bounded(flag: str, value: str) -> None:
    """``--timeout 1e30`` overflowed the timer thread (its traceback, then the sweep ran)."""
    argv = ["sweep", "gan-dcgan-dgx1", "--scheduler", "inline", "--vary", "strategy.dp=1,2"]
    one_error([*argv, flag, value], flag, "86,400")


@pytest.mark.parametrize("value", ["0", "-1", ",", "1000000000000000000000000000000"])
def test_plan_degrees(value: str) -> None:
    """``--tp 10**30``'s refusal named the scenario's strategy.tp; ``--tp ,`` planned nothing."""
    argv = ["plan", "gan-dcgan-dgx1", "--scheduler", "inline", "--target-step", "1s"]
    one_error([*argv, "--topologies", "dgx-a100", "--tp", value], "--tp", "32,768")


def test_replay_steps_need_chakra_out() -> None:
    one_error(["replay", str(NCCL2), "--steps", "0"], "--steps", "--chakra-out")


# ----------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("kind", ["dangling", "loop"])
def test_output_paths_through_dead_symlinks(tmp_path: Path, kind: str) -> None:
    """``--chakra-out`` on a dangling link was a FileExistsError traceback; ``replay --out``
    blamed the trace ("malformed trace: FileExistsError")."""
    link = tmp_path / "out"
    if kind == "loop":
        (tmp_path / "other").symlink_to(link)
        link.symlink_to(tmp_path / "other")
    else:
        link.symlink_to(tmp_path / "nowhere" / "x")
    tiny = _file(tmp_path, "tiny.yaml", TINY)
    one_error(["run", tiny, "--chakra-out", str(link)], "--chakra-out", "leads nowhere")
    one_error(["run", tiny, "--out", str(link / "sub")], "--out", "leads nowhere")
    one_error(["replay", str(NCCL2), "--out", str(link)], "--out", "leads nowhere")
    assert link.is_symlink()


def test_rig_calibrate_refuses_an_existing_out_before_measuring(tmp_path: Path) -> None:
    """``rig calibrate --out FILE`` measured for minutes, then refused the existing FILE."""
    mine = tmp_path / "mine.yaml"
    mine.write_text("the user's\n")
    one_error(["rig", "calibrate", "--out", str(mine)], str(mine), "--out", "exists")
    assert mine.read_text() == "the user's\n"


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--sizes", "0"], "--sizes"),
        (["--sizes", "1e15"], "--sizes"),
        (["--budget", "-1"], "--budget"),
    ],
)
def test_rig_bench_flags_before_measuring(flags: list[str], field: str) -> None:
    one_error(["rig", "bench", "rig-2host", *flags], field)


# ----------------------------------------------------------------------------- backends


def test_a_misspelt_nvls_link_is_refused(tmp_path: Path) -> None:
    """``nvlnk4`` was read as "no NVLS on nvlink4": NVLS silently never ran."""
    text = (ROOT / "simulator/data/backends/nccl.yaml").read_text()
    assert "nvlink4: 0.85" in text
    p = _file(tmp_path, "nccl.yaml", text.replace("nvlink4: 0.85", "nvlnk4: 0.85"))
    argv = ["collective", "--topology", "dgx-h100", "--op", "all_reduce", "--size", "1GiB"]
    one_error([*argv, "--backend", p], p, "nvls.efficiency.nvlnk4", "did you mean 'nvlink4'")


# ----------------------------------------------------------------------------- traces


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_manifest(d: Path, **fields: object) -> str:
    mf = d / "manifest.json"
    doc = json.loads(mf.read_text())
    doc.update(fields)
    mf.write_text(json.dumps(doc))
    return str(mf)


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"step_times_s": 5}, "step_times_s", "list per rank"),  # "malformed trace: TypeError"
        ({"step_times_s": [[-1.0], [0.02]]}, "step_times_s[0][0]", "> 0"),  # accepted
        ({"step_times_s": [[], [0.02]]}, "step_times_s", "non-empty"),  # IndexError
        ({"strategy": float("inf")}, "strategy", "non-empty string"),  # --json traceback
        ({"steps": -1}, "steps", ">= 1"),
        ({"model_config": {"d_model": "x"}}, "model_config.d_model", ">= 1"),
        ({"model_config": {"d_modle": 64}}, "model_config.d_modle", "did you mean 'd_model'"),
        ({"topology": "loopback-22"}, "topology", "no shipped topology"),  # named 'x' a file
        ({"backend": "glo"}, "backend", "no shipped backend"),
    ],
)
def test_manifest_fields(tmp_path: Path, fields: dict, field: str, text: str) -> None:
    d = _copy(GLOO2, tmp_path / "rec")
    mf = _edit_manifest(d, **fields)
    line = one_error(["replay", str(d), "--fidelity", "analytical", "--json"], mf, text)
    assert f": {field}:" in line, line


def test_a_null_manifest_backend_is_not_given(tmp_path: Path) -> None:
    """``"backend": null`` was a TypeError ("expected str, ... not NoneType")."""
    d = _copy(GLOO2, tmp_path / "rec")
    _edit_manifest(d, backend=None)
    code, _, err, _ = run_case(["replay", str(d), "--fidelity", "analytical", "--json"])
    assert code == 0, err


@pytest.mark.parametrize("elems", [10**30, -5])
def test_nccl_message_sizes_no_gpu_holds(tmp_path: Path, elems: int) -> None:
    """10**30 elements predicted a step of 10^25 ms; -5 "no step has the same collectives"."""
    d = _copy(NCCL2, tmp_path / "tr")
    for r in (0, 1):
        f = d / f"rank{r}.trace.json"
        doc = json.loads(f.read_text())
        for e in doc["traceEvents"]:
            if e.get("cat") == "kernel" and e["name"].startswith("ncclDevKernel"):
                e["args"]["In msg nelems"] = e["args"]["Out msg nelems"] = elems
        f.write_text(json.dumps(doc))
    one_error(["replay", str(d), "--fidelity", "analytical"], "rank0.trace.json", "msg nelems")


@pytest.fixture(scope="module")
def chakra(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("chakra") / "et"
    tiny = d.parent / "tiny.yaml"
    tiny.write_text(TINY)
    code, _, err, _ = run_case(["run", str(tiny), "--chakra-out", str(d)], 60)
    assert code == 0, err
    return d


def test_chakra_two_files_of_one_rank(chakra: Path, tmp_path: Path) -> None:
    """The second file of rank 0 silently replaced the first (a second workload's name: the
    files of two workloads, refused as such since real21's merge)."""
    d = _copy(chakra, tmp_path / "et")
    shutil.copy(d / "commsim.0.et", d / "other.0.et")
    one_error(["replay", str(d), "--topology", "dgx-a100"], "other.<rank> (1 file)", "2 workloads")


def test_chakra_rank_past_the_limit(chakra: Path, tmp_path: Path) -> None:
    d = _copy(chakra, tmp_path / "et")
    (d / "commsim.1.et").rename(d / "commsim.99999999999.et")
    one_error(["replay", str(d), "--topology", "dgx-a100"], "commsim.99999999999.et", "32,768")


def test_chakra_missing_rank_is_said(chakra: Path, tmp_path: Path) -> None:
    d = _copy(chakra, tmp_path / "et")
    (d / "commsim.1.et").unlink()
    code, _, err, _ = run_case(["replay", str(d), "--topology", "dgx-a100"])
    assert code == 0 and "Traceback" not in err
    assert "warning" in err and "no file for rank 1" in err


@pytest.fixture()
def finalize_dir(tmp_path: Path) -> Path:
    d = _copy(GLOO2, tmp_path / "rec")
    (d / "manifest.json").unlink()
    argv = ["record", "--world", "2", "--strategy", "ddp", "--out", str(tmp_path / "cfg")]
    code, _, err, _ = run_case([*argv, "--emit-config"])
    assert code == 0, err
    shutil.copy(tmp_path / "cfg" / "record_config.json", d / "record_config.json")
    return d


@pytest.mark.parametrize(
    ("file", "content", "field", "text"),
    [
        ("rank0.steps.json", "{}", "step_times_s", "non-empty list"),  # KeyError
        ("rank0.steps.json", '{"step_times_s": []}', "step_times_s", "non-empty"),  # 1/0
        ("rank0.steps.json", '{"step_times_s": [0.1], "hostname": 5}', "hostname", "string"),
        ("record_config.json", '{"world": "x"}', "world", "int"),  # TypeError
        ("record_config.json", '{"strategy": "dpp"}', "strategy", "did you mean 'ddp'"),
        ("record_config.json", '{"world": 1000000000000000000000000000000}', "world", "32,768"),
        ("record_config.json", '{"gpt": {"d_model": 0}}', "gpt.d_model", ">= 1"),
    ],
)
def test_finalize_reads_checked_files(
    finalize_dir: Path, file: str, content: str, field: str, text: str
) -> None:
    """``record --finalize`` reads what a cluster's nodes left; each of these was a traceback
    (the 10**30 world a hang)."""
    f = finalize_dir / file
    if file == "record_config.json":
        doc = json.loads(f.read_text())
        doc.update(json.loads(content))
        f.write_text(json.dumps(doc))
    else:
        f.write_text(content)
    argv = ["record", "--world", "2", "--strategy", "ddp", "--out", str(finalize_dir)]
    line = one_error([*argv, "--finalize"], str(f), text)
    assert f": {field}:" in line, line
    assert not (finalize_dir / "manifest.json").exists()
