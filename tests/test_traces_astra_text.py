"""ASTRA-sim 1.0 text workloads: parse, group semantics, schedule, replay end to end, bad lines.

The fixtures are ASTRA-sim's own (tests/fixtures/real/astra-text, README there); the rules
tested are those of ``astra-sim/workload/Workload.cc`` @ 92c9c20d (see
:mod:`simulator.traces.astra_text`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.core.errors import InputError
from simulator.core.ir import Collective, Compute, Program
from simulator.core.vocab import CollectiveOp
from simulator.traces.astra_text import comm_groups, parse_text_workload, text_workload

TEXT = Path(__file__).parent / "fixtures" / "real" / "astra-text"
TRANSFORMER = TEXT / "Transformer_HybridParallel.txt"
MLP = TEXT / "MLP_HybridParallel_Data_Model.txt"
RESNET = TEXT / "Resnet50_DataParallel.txt"


def _colls(p: Program) -> list[Collective]:
    return [op for op in p.ops if isinstance(op, Collective)]


def _write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "w.txt"
    f.write_text(text)
    return f


def test_parse_real_transformer():
    tw = parse_text_workload(TRANSFORMER)
    assert tw.policy == "HYBRID_TRANSFORMER" and tw.mp_group == 4 and len(tw.layers) == 57
    q1 = tw.layers[1]
    assert (q1.name, q1.fwd_ticks, q1.fwd_comm, q1.ig_comm, q1.ig_B) == (
        "Q1",
        3145728,
        "NONE",
        "ALLREDUCE",
        8388608,
    )
    assert (q1.wg_comm, q1.wg_B, q1.line) == ("ALLREDUCE", 33554432, 4)


def test_parse_real_data_parallel_and_space_separated(tmp_path):
    assert parse_text_workload(RESNET).policy == "DATA"
    assert len(parse_text_workload(RESNET).layers) == 54
    # ASTRA-sim's microAllReduce.txt separates with spaces (two in one place), not tabs
    f = _write(tmp_path, "MICRO\n1\nconv1 -1 5 NONE 0 5 NONE 0 5  ALLREDUCE 1048576 5\n")
    micro = parse_text_workload(f)
    assert micro.policy == "MICRO" and micro.layers[0].wg_B == 1048576


def test_groups_per_policy():
    tr = parse_text_workload(TRANSFORMER)
    model, data = comm_groups(tr, 16, 8)
    assert model[1] == (4, 5, 6, 7) and data[1] == (1, 5, 9, 13)  # consecutive TP of 4
    model, data = comm_groups(parse_text_workload(MLP), 16, 8)
    assert model == [tuple(range(8)), tuple(range(8, 16))] and data[0] == (0, 8)  # dim 0 = host
    model, data = comm_groups(parse_text_workload(RESNET), 16, 8)
    assert data == [tuple(range(16))] and model[3] == (3,)


def test_model_data_is_the_reverse(tmp_path):
    f = _write(tmp_path, MLP.read_text().replace("HYBRID_DATA_MODEL", "HYBRID_MODEL_DATA"))
    model, data = comm_groups(parse_text_workload(f), 16, 8)
    assert data[1] == tuple(range(8, 16)) and model[0] == (0, 8)


def test_data_parallel_runs_only_weight_gradient_comms():
    p = text_workload(parse_text_workload(RESNET), 8, 8).programs[0]
    cs = _colls(p)
    assert len(cs) == 54 and all(c.name.endswith("wg_comm") for c in cs)
    assert all(c.group == tuple(range(8)) for c in cs)
    # the layer-0 input-gradient compute is not run (iterate_data_parallel)
    assert "conv1.ig" not in {op.name for op in p.ops}


def test_transformer_input_gradient_comm_blocks():
    p = text_workload(parse_text_workload(TRANSFORMER), 8, 8).programs[0]
    by = {op.name: op for op in p.ops}
    q1_wg = by["Q1.wg"]
    assert by["Q1.ig_update"].id in q1_wg.deps  # wg compute waits for the ig comm (+ update)
    assert by["Q1.ig_comm"].group == (0, 1, 2, 3)
    assert by["Q1.wg_comm"].group == (0, 4)
    # the forward comm is blocking: the next layer's compute waits for it
    assert by["Embedding.fwd_update"].id in by["Q1.fwd"].deps


def test_hybrid_skips_layer0_input_gradient_comm_and_gathers_sizes():
    p = text_workload(parse_text_workload(MLP), 16, 8).programs[0]
    names = {c.name for c in _colls(p)}
    assert "layer_64_2_mlp0.ig_comm" not in names and "layer_64_2_mlp1.ig_comm" in names
    fwd = next(c for c in _colls(p) if c.name == "layer_64_2_mlp0.fwd_comm")
    # ASTRA-sim's ALLGATHER size is one rank's part; the IR's is the gathered output
    assert fwd.op is CollectiveOp.ALL_GATHER and fwd.size_B == 37632 * 8


def test_compute_ticks_are_nanoseconds():
    p = text_workload(parse_text_workload(RESNET), 4, 4).programs[0]
    comp = [op for op in p.ops if isinstance(op, Compute) and op.name == "conv1.fwd"]
    assert comp[0].duration_s == pytest.approx(13003e-9)


def test_customized_layers_take_their_own_groups(tmp_path):
    text = (
        "HYBRID_CUSTOMIZED\n2\n"
        "a -1 5 ALLGATHER 64 5 REDUCESCATTER 64 5 ALLREDUCE 64 1 HYBRID_DATA_MODEL\n"
        "b -1 5 ALLGATHER 64 5 REDUCESCATTER 64 5 ALLREDUCE 64 1 DATA\n"
    )
    p = text_workload(parse_text_workload(_write(tmp_path, text)), 16, 8).programs[9]
    groups = {c.name: c.group for c in _colls(p)}
    assert groups["a.fwd_comm"] == tuple(range(8, 16)) and groups["a.wg_comm"] == (1, 9)
    # a DATA layer involves no dimension in its forward and input-gradient comms
    assert "b.fwd_comm" not in groups and groups["b.wg_comm"] == tuple(range(16))


def test_replay_text_workload_end_to_end(tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["replay", str(RESNET), "--topology", "dgx-a100", "--out", str(out), "--json"]
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["format"] == "astra-text" and got["world"] == 8
    res = got["result"]
    # 1.1 ms of compute and 54 gradient all-reduces (102 MB) that overlap the backward pass
    assert res["compute_s"] == pytest.approx(1.111572e-3)
    assert res["comm_s"] > 0 and 0 < res["exposed_comm_s"] < res["comm_s"]
    assert got["predicted_step_s"] == pytest.approx(res["compute_s"] + res["exposed_comm_s"])
    assert {"result.json", "timeline.json"} <= {p.name for p in out.iterdir()}


def test_replay_world_and_text_output(capsys):
    assert main(["replay", str(TRANSFORMER), "--topology", "dgx-a100", "--world", "4"]) == 0
    assert "astra-text on 4 ranks" in capsys.readouterr().out


BAD = [
    ("DATA\n1\nconv1 -1 5 NONE 0 5 NONE 0 5 ALLREDUCE 1048576\n", "line 3: expected 12 fields"),
    ("DATA\n1\nconv1 -1 5 NONE 0 5 NONE 0 5 BROADCAST 8 5\n", "line 3: wg_comm_type: unknown"),
    ("DATA\n2\nconv1 -1 5 NONE 0 5 NONE 0 5 ALLREDUCE 8 5\n", "layers: line 2 says 2 layers"),
    ("DATA\n1\nconv1 -1 x NONE 0 5 NONE 0 5 ALLREDUCE 8 5\n", "line 3: fwd_compute: expected"),
    ("PIPELINE\n1\n", "line 1: parallelism: unknown 'PIPELINE'"),
    ("HYBRID_DLRM 4\n1\n", "line 1: parallelism: HYBRID_DLRM is not imported"),
    ("HYBRID_CUSTOMIZED\n1\nq -1 5 NONE 0 5 NONE 0 5 NONE 0 5 PIPE\n", "layer_parallelism"),
    ("HYBRID_TRANSFORMER\n1\nq -1 5 NONE 0 5 NONE 0 5 NONE 0 5\n", "model_parallel_NPU_group"),
    ("HYBRID_TRANSFORMER model_parallel_NPU_group: 2 ep: 4\n1\n", "line 1: unknown key(s) ep"),
]


@pytest.mark.parametrize(("text", "needle"), BAD)
def test_bad_lines_name_file_line_and_field(tmp_path, text, needle):
    f = _write(tmp_path, text)
    with pytest.raises(InputError, match=needle.replace("(", r"\(").replace(")", r"\)")) as e:
        parse_text_workload(f)
    assert str(e.value).startswith(str(f))


def test_bad_file_exits_2_with_one_line(tmp_path, capsys):
    f = _write(tmp_path, BAD[1][0])
    assert main(["replay", str(f), "--topology", "dgx-a100"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(f) in err and "line 3" in err


def test_model_group_must_divide_world(capsys):
    assert main(["replay", str(TRANSFORMER), "--topology", "dgx-a100", "--world", "6"]) == 2
    assert "model_parallel_NPU_group (4) must divide the world (6)" in capsys.readouterr().err


def test_text_workload_needs_topology(capsys):
    assert main(["replay", str(RESNET)]) == 2
    assert "--topology" in capsys.readouterr().err


@pytest.mark.parametrize("fixture", [MLP, RESNET, TRANSFORMER], ids=lambda p: p.stem)
def test_docs_table_is_what_replay_predicts(fixture, capsys):
    """docs/traces.md's table of predicted steps, dgx-a100 column, for the kept fixtures."""
    doc = (Path(__file__).parents[1] / "docs" / "traces.md").read_text()
    row = next(ln for ln in doc.splitlines() if ln.startswith(f"| {fixture.stem} |"))
    documented = row.split("|")[2].strip()
    assert main(["replay", str(fixture), "--topology", "dgx-a100", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["predicted_step_s"]
    assert f"{got * 1e3:.3f} ms" == documented


def test_fwd_in_bckwd_header_and_recompute_warning(tmp_path):
    text = (
        "HYBRID_TRANSFORMER_FWD_IN_BCKWD\tmodel_parallel_NPU_group: 2 checkpoints: 2 0 1 "
        "checkpoint_initiates: 1 1\n2\n"
        "a -1 5 ALLREDUCE 64 5 ALLREDUCE 64 5 ALLREDUCE 64 1\n"
        "b -1 5 NONE 0 5 NONE 0 5 ALLREDUCE 64 1\n"
    )
    tw = parse_text_workload(_write(tmp_path, text))
    assert tw.mp_group == 2 and tw.checkpoints == (0, 1)
    warnings = text_workload(tw, 4, 8).metadata["warnings"]
    assert isinstance(warnings, list) and "not modelled" in warnings[0]


def test_simai_header_is_refused_naming_its_keys(tmp_path):
    head = "HYBRID_TRANSFORMER_FWD_IN_BCKWD model_parallel_NPU_group: 2 ep: 16 pp: 12 vpp: 8 "
    f = _write(tmp_path, head + "ga: 24 all_gpus: 9216 checkpoints: 0 pp_comm 50331648\n1\n")
    with pytest.raises(InputError, match=r"line 1: unknown key\(s\) all_gpus, ep, ga, pp, pp_comm"):
        parse_text_workload(f)
