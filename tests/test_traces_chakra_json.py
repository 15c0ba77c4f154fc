"""Chakra execution traces in JSON (both of Chakra's forms) and Chakra directories' files.

``chakra-json/small_chakra.0.json`` is Chakra's own JSON test trace (the feeder's
``workload_graph`` form, provenance in tests/fixtures/real/README.md): the same graph as
``chakra-converter/chakra.0.et`` (node ids, ``runtime`` = ``duration_micros``,
``data_deps``), but its NCCL kernel node carries no ``comm_type`` and no ``comm_size``.
``chakra_jsonizer``'s form is protobuf's ``MessageToJson`` of each message of a ``.et`` file,
written one after the other; the tests make it from the real ``.et`` fixtures as the jsonizer
does.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("google.protobuf")

from google.protobuf.json_format import MessageToJson

from simulator.cli import main
from simulator.core.errors import InputError
from simulator.core.ir import Collective, Compute
from simulator.core.vocab import CollectiveOp
from simulator.traces.chakra import import_chakra_dir, read_et
from simulator.traces.sniff import json_kind

REAL = Path(__file__).parent / "fixtures" / "real"
SMALL = REAL / "chakra-json" / "small_chakra.0.json"


def _jsonize(src: Path, dst: Path) -> Path:
    """What ``chakra_jsonizer`` writes for each ``<name>.<rank>.et`` of ``src``."""
    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.glob("*.et")):
        gm, nodes = read_et(p)
        text = MessageToJson(gm) + "".join(MessageToJson(n) for n in nodes)
        (dst / (p.name[: -len(".et")] + ".json")).write_text(text)
    return dst


def _replay(d: Path, capsys, *extra: str) -> dict:
    assert main(["replay", str(d), "--topology", "dgx-a100", "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _refused(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "error:" in ln]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("name", "world"),
    [
        ("astra-all_gather-4npus_1MB", None),
        ("astra-all_to_all-8npus_1MB", None),
        ("astra-custom-ring-8", None),
        ("chakra-converter", "2"),
    ],
)
def test_jsonizer_form_replays_as_its_et(name, world, tmp_path, capsys):
    """The jsonized files give the same Programs and the same predicted step as the .et."""
    d = _jsonize(REAL / name, tmp_path / name)
    assert {json_kind(p) for p in d.iterdir()} == {"chakra-json"}
    w = None if world is None else int(world)
    a, b = import_chakra_dir(REAL / name, world=w), import_chakra_dir(d, world=w)
    assert [len(p.ops) for p in a.programs] == [len(p.ops) for p in b.programs]
    for pa, pb in zip(a.programs, b.programs, strict=True):
        assert [(type(o).__name__, o.deps, getattr(o, "size_B", None)) for o in pa.ops] == [
            (type(o).__name__, o.deps, getattr(o, "size_B", None)) for o in pb.ops
        ]
    extra = () if world is None else ("--world", world)
    et, js = _replay(REAL / name, capsys, *extra), _replay(d, capsys, *extra)
    assert js["predicted_step_s"] == et["predicted_step_s"] > 0


def test_chakras_json_test_trace_without_comm_type_is_refused(tmp_path, capsys):
    """Chakra's JSON test trace: its NCCL broadcast kernel (node 435) has no comm_type. Until
    2026-12-06 the directory was refused as "not *.et"; taken as a launch, the collective
    would be lost without a word, so the node is named."""
    d = tmp_path / "small"
    d.mkdir()
    shutil.copy(SMALL, d)
    line = _refused(["replay", str(d), "--topology", "dgx-a100", "--world", "2"], capsys)
    assert "small_chakra.0.json" in line and "node 435.comm_type" in line


def test_feeder_form_with_comm_attributes_imports(tmp_path, capsys):
    """The same file with node 435's comm_type/comm_size from chakra.0.et (BROADCAST = 5,
    212480 B): one broadcast over the world; the CPU nodes nested in node 3 (ctrlDeps) run in
    zero time; ``runtime`` is microseconds."""
    doc = json.loads(SMALL.read_text())
    for n in doc["workload_graph"]:
        if n["Id"] == 435:
            n.update(comm_type=5, comm_size=212480)
    d = tmp_path / "fed"
    d.mkdir()
    (d / "small_chakra.0.json").write_text(json.dumps(doc))
    wl = import_chakra_dir(d, world=2)
    (prog,) = wl.programs
    colls = [(op.op, op.size_B, op.group) for op in prog.ops if isinstance(op, Collective)]
    assert colls == [(CollectiveOp.BROADCAST, 212480.0, (0, 1))]
    gpu = [op.duration_s for op in prog.ops if isinstance(op, Compute) and op.stream == "compute"]
    assert gpu == [pytest.approx(4e-6)]  # node 430, runtime 4
    assert _replay(d, capsys, "--world", "2")["predicted_step_s"] > 0


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("runtime", "85", "workload_graph[0].runtime"),
        ("NodeType", 12, "workload_graph[0].NodeType"),
        ("data_deps", 216, "workload_graph[0].data_deps"),
        ("is_cpu_op", 1, "workload_graph[0].is_cpu_op"),
        ("Id", -1, "workload_graph[0].Id"),
    ],
)
def test_feeder_form_bad_values_are_refused(key, value, expected, tmp_path, capsys):
    doc = json.loads(SMALL.read_text())
    doc["workload_graph"][0][key] = value
    d = tmp_path / "bad"
    d.mkdir()
    (d / "x.0.json").write_text(json.dumps(doc))
    line = _refused(["replay", str(d), "--topology", "dgx-a100"], capsys)
    assert "x.0.json" in line and expected in line and "expected" in line


def test_jsonizer_form_bad_message_is_refused(tmp_path, capsys):
    d = _jsonize(REAL / "astra-all_reduce-4npus_1MB", tmp_path / "j")
    p = d / "all_reduce.1.json"
    p.write_text(p.read_text().replace('"type": "COMM_COLL_NODE"', '"type": "NO_SUCH_NODE"'))
    line = _refused(["replay", str(d), "--topology", "dgx-a100"], capsys)
    assert "all_reduce.1.json" in line and "node message 0" in line


def test_gpu_collective_without_size_is_refused(tmp_path, capsys):
    """An ASTRA-sim all-reduce node without comm_size was simulated as 0 bytes until
    2026-12-06."""
    d = _jsonize(REAL / "astra-all_reduce-4npus_1MB", tmp_path / "j")
    for p in d.iterdir():
        doc = p.read_text().replace('"name": "comm_size"', '"name": "comm_bytes"')
        p.write_text(doc)
    line = _refused(["replay", str(d), "--topology", "dgx-a100"], capsys)
    assert "comm_size" in line and "all_reduce.0.json" in line


def test_gpu_collective_with_a_string_type_is_refused_naming_it(tmp_path, capsys):
    """A jsonized node whose comm_type is a stringVal was "malformed trace: ValueError"
    naming neither node nor key until 2026-12-06 (review21)."""
    d = _jsonize(REAL / "astra-all_reduce-4npus_1MB", tmp_path / "j")
    p = d / "all_reduce.0.json"
    bad = '"name": "comm_type",\n      "stringVal": "x"'
    p.write_text(p.read_text().replace('"name": "comm_type",\n      "int64Val": "0"', bad))
    assert bad in p.read_text()
    line = _refused(["replay", str(d), "--topology", "dgx-a100"], capsys)
    assert "all_reduce.0.json" in line and ".comm_type" in line and "'x'" in line


def test_two_workloads_in_one_directory_are_refused(tmp_path, capsys):
    """Chakra's json_trace holds chakra.0.json and small_chakra.0.json side by side; ASTRA-sim
    reads one <name>.<rank> set. Until 2026-12-06 two .et sets of one rank silently kept one."""
    d = tmp_path / "two"
    shutil.copytree(REAL / "astra-all_reduce-4npus_1MB", d)
    for p in (REAL / "astra-all_gather-4npus_1MB").iterdir():
        shutil.copy(p, d)
    line = _refused(["replay", str(d), "--topology", "dgx-a100"], capsys)
    assert "2 workloads" in line and "all_gather.<rank>" in line and "all_reduce.<rank>" in line
    shutil.rmtree(d)
    shutil.copytree(REAL / "astra-all_reduce-4npus_1MB", d)
    _jsonize(REAL / "astra-all_reduce-4npus_1MB", d)
    with pytest.raises(InputError, match="both rank 0"):
        import_chakra_dir(d)


def test_a_kineto_directory_keeps_chakra_json_out(tmp_path):
    """Beside Kineto traces, Chakra JSON is left out (the Kineto traces are replayed)."""
    from simulator.traces.kineto import import_trace_dir

    d = tmp_path / "mixed"
    shutil.copytree(REAL / "hta-autograd-1", d)
    _jsonize(REAL / "astra-all_reduce-4npus_1MB", d)
    imp = import_trace_dir(d)
    assert imp.world == 1
    notes = " ".join(imp.summary.notes)
    assert "all_reduce.0.json: chakra-json" in notes
    assert Counter(json_kind(p) for p in d.iterdir())["chakra-json"] == 4


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (r'\{\s*"name": "comm_dst",\s*"int32Val": \d+\s*\},?', "", "got none"),
        (r'("name": "comm_dst",\s*"int32Val": )\d+', r"\g<1>99", "got 99"),
        (r'("name": "comm_dst",\s*)"int32Val": \d+', r'\1"stringVal": "x"', "got 'x'"),
        (r'("name": "comm_size",\s*)"int64Val": "\d+"', r'\1"int64Val": "-5"', "got -5"),
    ],
)
def test_send_node_fields_are_checked_naming_the_node(old, new, said, tmp_path, capsys):
    """A SEND node's comm_dst missing, past the world or text, or a negative comm_size: refused
    naming the file, the node and the key (until 2026-12-06 the text one was "malformed trace:
    ValueError" and the others named the program's op, not the file or key)."""
    d = _jsonize(REAL / "astra-custom-ring-8", tmp_path / "j")
    p = d / "custom_allreduce.0.json"
    text = p.read_text()
    bad = re.sub(old, new, text, count=1)
    assert bad != text
    p.write_text(bad)
    line = _refused(["replay", str(d), "--topology", "dgx-a100"], capsys)
    key = "comm_size" if "size" in old else "comm_dst"
    assert "custom_allreduce.0.json" in line and f"node 0.{key}" in line and said in line
