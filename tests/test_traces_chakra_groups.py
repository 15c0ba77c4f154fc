"""Which ranks a foreign Chakra collective runs on: ``pg_name``, ASTRA-sim's ``comm_group.json``
and ``involved_dim``.

The inputs are ASTRA-sim's real 4-NPU all-reduce microbenchmark ETs
(``tests/fixtures/real/astra-all_reduce-4npus_1MB``) with attributes added as other real files
carry them: ``involved_dim`` as in the ASTRA-sim MICRO'24 tutorial's 2-D all-reduce
(astra-sim/tutorials @ ead2d5d ``micro2024/astra-sim-demo/demo3/allreduce_2D``: one
``COMM_COLL_NODE`` per NPU, ``comm_size`` 1048576, ``involved_dim`` [true, true]; not copied
here, the repository states no licence), ``pg_name`` with a ``comm_group.json`` beside the ETs
as in EricDinging/astra-sim-hybrid-parallelism ``examples/test-1-comm-group`` (``{"0" : [0,
1]}``, ASTRA-sim's ``--comm-group-configuration``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("google.protobuf")

from simulator.cli import main
from simulator.core.errors import InputError
from simulator.core.ir import Collective
from simulator.traces.chakra import import_chakra_dir, read_et
from simulator.traces.chakra.codec import write_messages

AR4 = Path(__file__).parent / "fixtures" / "real" / "astra-all_reduce-4npus_1MB"


def _with(tmp_path: Path, **attrs: object) -> Path:
    """The 4 ETs with ``attrs`` added to their collective node (bool lists, strings, ints)."""
    d = tmp_path / "et"
    d.mkdir()
    for p in sorted(AR4.glob("*.et")):
        gm, nodes = read_et(p)
        for n in nodes:
            for k, v in attrs.items():
                a = n.attr.add(name=k)
                if isinstance(v, list):
                    a.bool_list.values.extend(v)
                elif isinstance(v, str):
                    a.string_val = v
                else:
                    a.int64_val = int(v)  # type: ignore[call-overload]
        write_messages(d / p.name, [gm, *nodes])
    return d


def _groups(d: Path) -> list[tuple[int, ...]]:
    wl = import_chakra_dir(d)
    return [op.group for p in wl.programs for op in p.ops if isinstance(op, Collective)]


def test_every_dimension_involved_is_the_world(tmp_path):
    """The tutorial's 2-D all-reduce ([true, true]) spans every rank, as the 1-D one."""
    assert _groups(_with(tmp_path, involved_dim=[True, True])) == [(0, 1, 2, 3)] * 4


def test_some_dimensions_left_out_are_refused(tmp_path, capsys):
    """[true, false]: ASTRA-sim runs it over the first network dimension only, whose ranks
    the ETs do not say; until 2026-12-06 it ran over all 4 ranks without a word."""
    d = _with(tmp_path, involved_dim=[True, False])
    assert main(["replay", str(d), "--topology", "dgx-a100"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert len(err) == 1 and "all_reduce.0.et" in err[0] and "involved_dim" in err[0]


def test_comm_group_json_gives_the_ranks(tmp_path):
    """ASTRA-sim's comm_group.json beside the ETs: pg_name "0" is ranks [0, 1] (until
    2026-12-06 the file was not read and the collective ran over all 4 ranks); it also gives
    the ranks of a collective whose involved_dim leaves a dimension out."""
    d = _with(tmp_path, pg_name="0", involved_dim=[True, False])
    for r in (2, 3):
        (d / f"all_reduce.{r}.et").unlink()
    (d / "comm_group.json").write_text('{\n    "0" : [0, 1]\n}\n')
    assert _groups(d) == [(0, 1), (0, 1)]


def test_unknown_pg_name_is_said(tmp_path, capsys):
    d = _with(tmp_path, pg_name="7")
    wl = import_chakra_dir(d)
    assert any("pg_name" in w and "every rank" in w for w in wl.metadata["warnings"])
    assert main(["replay", str(d), "--topology", "dgx-a100"]) == 0
    assert "4 collective(s) name a pg_name" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("groups", "what"),
    [
        ({"0": [0, "1"]}, "comm_group.json: 0: expected a list of ranks"),
        ([0, 1], "expected"),
        ({"0": [0, 9]}, "past the job"),  # rank 9 of a 4-rank job
        ({"0": [1, 2]}, "pg_name"),  # rank 0's collective on a group without rank 0
    ],
)
def test_bad_comm_groups_are_refused(groups, what, tmp_path):
    d = _with(tmp_path, pg_name="0")
    (d / "comm_group.json").write_text(json.dumps(groups))
    with pytest.raises(InputError, match=what):
        import_chakra_dir(d)


def test_unknown_collective_number_is_refused(tmp_path, capsys):
    """comm_type 42 (no CollectiveCommType): one line, not an IndexError's traceback."""
    d = tmp_path / "et"
    shutil.copytree(AR4, d)
    for p in sorted(d.glob("*.et")):
        gm, nodes = read_et(p)
        for n in nodes:
            for a in n.attr:
                if a.name == "comm_type":
                    a.int64_val = 42
        write_messages(p, [gm, *nodes])
    assert main(["replay", str(d), "--topology", "dgx-a100"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "comm_type" in err and "number 42" in err


def test_memory_nodes_are_said(tmp_path):
    """ASTRA-sim's MEM_LOAD_NODE / MEM_STORE_NODE (remote memory, timed by its memory
    configuration) run in zero time here; a warning says so (before 2026-12-06 only a count)."""
    d = tmp_path / "et"
    shutil.copytree(AR4, d)
    for p in sorted(d.glob("*.et")):
        gm, nodes = read_et(p)
        load = nodes[0].__class__(id=99, name="remote_load", type=2)
        a = load.attr.add(name="tensor_size")
        a.uint64_val = 4096
        write_messages(p, [gm, *nodes, load])
    wl = import_chakra_dir(d)
    assert any(
        "4 MEM_LOAD/MEM_STORE node(s) run in zero time" in w for w in wl.metadata["warnings"]
    )
