"""Fifth round of bad inputs (session 21): the input surfaces this session added (context
parallelism, Chakra JSON and ``comm_group.json``, the oversubscription ``send_recv`` wait,
hand-written rig topologies, published rows' experts/ep/cp, plan ``--set``).

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

from simulator.core.errors import InputError
from tests.test_bad_inputs import ROOT, TINY, one_error, run_case

REAL = ROOT / "tests" / "fixtures" / "real"
SMALL = REAL / "chakra-json" / "small_chakra.0.json"
PROFILE = ROOT / "simulator" / "data" / "calibration" / "gloo-rig-4rank.yaml"
GLOO2 = ROOT / "tests" / "fixtures" / "traces" / "ddp-2-gloo"


def _file(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# ----------------------------------------------------------------------------- context parallelism


def test_plan_with_a_cp_that_does_not_split_the_sequence_is_one_line(tmp_path: Path) -> None:
    """``plan --set strategy.cp=3`` on a 256-token sequence: every candidate "cannot run" with
    the same fault and plan exited 0; the scenario's own fault is refused once at load."""
    s = _file(tmp_path, "tiny.yaml", TINY)
    argv = ["plan", s, "--target-step", "1s", "--topologies", "dgx-a100", "--scheduler", "inline"]
    one_error([*argv, "--set", "strategy.cp=3"], s, "strategy.cp:", "cp=3")


def test_cp_that_splits_runs_with_its_own_traffic(tmp_path: Path, capsys) -> None:
    """A valid cp=2 (world 8 = tp 1 x cp 2 x dp 4) runs; its K/V exchange is priced and the
    activations per GPU halve."""
    s = _file(tmp_path, "tiny.yaml", TINY.replace("{tp: 2, pp: 1}", "{tp: 1, pp: 1, dp: 8}"))
    code, base, _, _ = run_case(["run", s, "--json"])
    assert code == 0
    code, out, _, _ = run_case(
        ["run", s, "--set", "strategy.cp=2", "--set", "strategy.dp=4", "--json"]
    )
    assert code == 0
    one, two = json.loads(base), json.loads(out)
    assert two["comm_by_category_s"]["cp"] > 0 and "cp" not in one["comm_by_category_s"]
    act = [d["memory_per_gpu_B"]["activations"] for d in (one, two)]
    assert act[1] == pytest.approx(act[0] / 2)


# ----------------------------------------------------------------------------- comm_group.json


@pytest.fixture
def ar4(tmp_path: Path) -> Path:
    """ASTRA-sim's 4-NPU all-reduce ETs, each collective naming pg_name "0"."""
    pytest.importorskip("google.protobuf")
    from tests.test_traces_chakra_groups import _with

    return _with(tmp_path, pg_name="0")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"0": []}', "at least one"),  # ran the collective over no listed rank
        ('{"0": [0, 0, 1]}', "rank 0 listed twice"),  # named the .et file, not the duplicate
        ('{"0": [0, 1], "0": [0, 1, 2, 3]}', "pg_name given twice"),  # the last one kept
        ('{"0": [0, 1, 2, 3], "1": [0, 99]}', "rank 99 is past the job's 4 ranks"),  # unused: kept
    ],
)
def test_comm_group_json_shapes_are_checked(ar4: Path, text: str, expected: str) -> None:
    (ar4 / "comm_group.json").write_text(text)
    one_error(["replay", str(ar4), "--topology", "dgx-a100"], "comm_group.json", expected)


def test_comm_group_json_as_a_directory_is_refused(ar4: Path) -> None:
    """A directory named comm_group.json was skipped: every collective ran over every rank
    with only a warning."""
    (ar4 / "comm_group.json").mkdir()
    one_error(
        ["replay", str(ar4), "--topology", "dgx-a100"], "comm_group.json", "expected a JSON file"
    )


# ----------------------------------------------------------------------------- Chakra JSON


def _graph() -> list[dict[str, object]]:
    """Chakra's JSON test trace with node 435's comm attributes from its chakra.0.et (as in
    tests/test_traces_chakra_json.py)."""
    graph: list[dict[str, object]] = json.loads(SMALL.read_text())["workload_graph"]
    for n in graph:
        if n["Id"] == 435:
            n.update(comm_type=5, comm_size=212480)
    return graph


def _feeder(tmp_path: Path, graph: list[dict[str, object]]) -> str:
    d = tmp_path / "fed"
    d.mkdir()
    (d / "x.0.json").write_text(json.dumps({"workload_graph": graph}))
    return str(d)


def test_an_empty_workload_graph_is_refused(tmp_path: Path) -> None:
    """``{"workload_graph": []}`` replayed as a 0 s step."""
    d = _feeder(tmp_path, [])
    one_error(["replay", d, "--topology", "dgx-a100"], d, "no nodes")


def test_two_nodes_of_one_id_are_refused(tmp_path: Path) -> None:
    """Two nodes with Id 216: dependencies on 216 silently went to the later one."""
    graph = _graph()
    graph[1]["Id"] = graph[0]["Id"]
    d = _feeder(tmp_path, graph)
    one_error(["replay", d, "--topology", "dgx-a100"], "x.0.json", f"node id {graph[0]['Id']}")


def test_a_dependency_on_no_node_is_said(tmp_path: Path) -> None:
    """A data_deps id no node has was dropped without a word (it is counted and said now)."""
    graph = _graph()
    graph[0]["data_deps"] = [99999]
    code, _, err, _ = run_case(
        ["replay", _feeder(tmp_path, graph), "--topology", "dgx-a100", "--world", "2"]
    )
    assert code == 0 and "1 data_deps name a node no file holds" in err


# ----------------------------------------------------------------------------- send_recv wait


@pytest.mark.parametrize("key", ["oversubscription.hop_wait.send_recv", "hop_floor.send_recv"])
def test_a_hop_wait_of_ages_is_refused(tmp_path: Path, key: str) -> None:
    """``send_recv: 1e30s`` priced every pipeline hop at 10^30 s (exit 0)."""
    text = PROFILE.read_text()
    if key.startswith("hop_floor"):
        text += "hop_floor: {send_recv: 1e30s}\n"
    else:
        text = re.sub(r"send_recv: [0-9.]+us", "send_recv: 1e30s", text)
    p = _file(tmp_path, "prof.yaml", text)
    one_error(["replay", str(GLOO2), "--backend", p], p, f"{key}:", "<= 10")


# ----------------------------------------------------------------------------- rig topologies


def test_a_rig_topology_with_no_ranks_is_refused(tmp_path: Path) -> None:
    """``ranks: []`` showed a 0-rank topology (exit 0) and replay said "only 0" ranks without
    naming the file."""
    user = (ROOT / "benchmarks" / "data" / "user-3host-slow.yaml").read_text()
    p = _file(tmp_path, "t.yaml", re.sub(r"ranks: \[.*\]", "ranks: []", user))
    one_error(["topology", "show", p, "--json"], p, "ranks:", "at least one")
    one_error(["replay", str(GLOO2), "--topology", p], p, "ranks:")


# ----------------------------------------------------------------------------- published rows


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("cp: 2", "cp: 0", "parallelism.cp"),  # 0 GPUs
        ("cp: 2", "cp: -2", "parallelism.cp"),
        ("cp: 2", "cp: true", "parallelism.cp"),  # read as 1
        ("cp: 2", "cp: 2, ep: 0", "parallelism.ep"),
        ("layers: 96", "layers: 96, experts: 0", "model.experts"),
        ("layers: 96", "layers: 96, top_k: true", "model.top_k"),
    ],
)
def test_published_rows_new_degrees_are_typed(tmp_path: Path, old: str, new: str, field: str):
    from simulator.studies.published import PUBLISHED_PATH, load_references

    text = PUBLISHED_PATH.read_text()
    assert old in text
    p = tmp_path / "published.yaml"
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(InputError, match=re.escape(field)):
        load_references(p)


def test_nothing_the_user_gave_is_touched(tmp_path: Path, ar4: Path) -> None:
    """The refused inputs are left as they were."""
    (ar4 / "comm_group.json").write_text('{"0": []}')
    before = {p.name: p.read_bytes() for p in ar4.iterdir()}
    one_error(["replay", str(ar4), "--topology", "dgx-a100"], "comm_group.json")
    assert {p.name: p.read_bytes() for p in ar4.iterdir()} == before
    shutil.rmtree(ar4)


# ----------------------------------------------------------------------- misspelt keys (lead)


@pytest.mark.parametrize(
    ("wrong", "right", "field"),
    [("heads", "haeds", "model.haeds"), ("layers", "layer", "model.layer")],
)
def test_a_misspelt_required_model_key_is_named(
    tmp_path: Path, wrong: str, right: str, field: str
) -> None:
    """``model: {haeds: 8}`` said ``model.heads: required field missing``, never naming the key
    the user wrote: the dataclass section's unknown-key error type was not sorted first."""
    s = _file(tmp_path, "tiny.yaml", TINY.replace(f" {wrong}:", f" {right}:", 1))
    one_error(["run", s], field, "unknown key", f"did you mean '{wrong}'")


@pytest.mark.parametrize(
    ("model", "field_text"),
    [
        ("{name: tiny, layers: 4, hidden: 512, heads: 8, vocab: 1024}", "model.heads=8"),
        ("{name: tiny, layers: 4, hidden: 576, heads: 12, kv_heads: 4, vocab: 1024}", "kv_heads=4"),
    ],
)
def test_tp_that_splits_no_whole_head_is_refused(
    tmp_path: Path, model: str, field_text: str
) -> None:
    """``tp: 3`` with 8 heads ran (and derived dp): Megatron-Core refuses heads or key/value
    groups that tp does not divide; so does the scenario now."""
    text = TINY.replace("{tp: 2, pp: 1}", "{tp: 3, pp: 1}").replace(
        "{name: tiny, layers: 4, hidden: 512, heads: 8, vocab: 1024}", model
    )
    text = text.replace("global_batch: 8", "global_batch: 2")
    one_error(["run", _file(tmp_path, "tiny.yaml", text)], "strategy.tp", field_text)
