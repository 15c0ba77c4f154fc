"""Importers on real public inputs of kinds not covered before (real22; provenance in
tests/fixtures/real/README.md).

Expected values were read from the files themselves, not from the importer.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.core.vocab import CollectiveOp
from simulator.traces.kineto import import_trace_dir

REAL = Path(__file__).parent / "fixtures" / "real"
AR = CollectiveOp.ALL_REDUCE


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "opts",
    [
        ["--mirror-ranks", "--world", "4"],
        ["--mirror-ranks", "--strategy", "pp-1f1b"],
        ["--strategy", "tp", "--world", "2"],
    ],
)
def test_resharding_a_foreign_trace_says_why_first(opts, capsys):
    """HTA's rank-0-only A100 DDP trace has no manifest, so it cannot be re-sharded. Until
    2026-12-06 it was imported first and refused for its partial rank set ("pass
    --mirror-ranks", even with --mirror-ranks given), and with a tp/pp strategy the error named
    a manifest.json the directory does not have."""
    d = REAL / "hta-a100-ddp"
    rc = main(["replay", str(d), "--topology", "dgx-a100", *opts])
    assert rc == 2
    line = _error(capsys)
    assert str(d) in line and "model:" in line and "commsim record" in line
    assert "--mirror-ranks" not in line and "manifest.json:" not in line


def test_chakra_linked_execution_trace_is_named_as_such(tmp_path, capsys):
    """An ET+ (Chakra's trace_link output: ASTRA-sim's et_plus/dlrm_eg_0_plus.json, whose
    1,936 nodes carry ``ts``/``dur``) was refused as "an execution trace holds no times"."""
    d = tmp_path / "etplus"
    d.mkdir()
    shutil.copy(REAL / "astra-etplus-dlrm" / "dlrm_eg_0_plus.json.gz", d)
    assert main(["replay", str(d), "--topology", "dgx-a100"]) == 2
    line = _error(capsys)
    assert str(d) in line and "dlrm_eg_0_plus.json.gz" in line
    assert "chakra_trace_link" in line and "holds no times" not in line


def _strided_copy(tmp_path: Path, cut_list: bool) -> Path:
    """``hta-a100-ddp`` as rank 0 of a 64-rank job whose collectives ran on a data-parallel
    group of 32 ranks with stride 2 (0, 2, ..., 62), written the way torch writes such a group:
    ``Process Group Ranks`` cut after 30 ranks (``kTruncatLength``), or, without the list,
    ``Global rank start`` / ``Global rank stride`` (torch ~2.1-2.3)."""
    with gzip.open(REAL / "hta-a100-ddp" / "rank-0.json.gz") as fh:
        doc = json.load(fh)
    doc["distributedInfo"]["world_size"] = 64
    del doc["distributedInfo"]["pg_config"]
    cut = "[" + ", ".join(str(2 * i) for i in range(30)) + ", ...]"
    for e in doc["traceEvents"]:
        a = e.get("args", {})
        if "Process Group Ranks" not in a:
            continue
        a["Group size"] = 32
        a["Process Group Name"] = "5"
        if cut_list:
            a["Process Group Ranks"] = cut
        else:
            del a["Process Group Ranks"]
            a["Global rank start"], a["Global rank stride"] = 0, 2
    d = tmp_path / "strided"
    d.mkdir()
    with gzip.open(d / "rank-0.json.gz", "wt") as fh:
        json.dump(doc, fh)
    return d


@pytest.mark.parametrize("cut_list", [True, False])
def test_a_strided_group_is_read_from_a_cut_list_or_the_rank_stride(cut_list, tmp_path):
    """Until 2026-12-06 the cut list (a Python ``...`` in it) and the start/stride were
    unread: with no ``pg_config``, the group was taken for the contiguous block 0..31."""
    imp = import_trace_dir(_strided_copy(tmp_path, cut_list), mirror_missing=True)
    comms = imp.timelines[0][0].comms
    assert comms and all(c.group == tuple(range(0, 64, 2)) for c in comms)
    assert imp.summary.roles["group-from-rank-stride"] == len(comms) * 2  # 2 steps
    assert imp.summary.roles["group-assumed-contiguous"] == 0


@pytest.mark.parametrize(
    ("fixture", "opts", "world"),
    [
        ("hta-a2a-16", ["--mirror-ranks"], 16),  # Kineto: rank 9 of 16
        ("astra-all_to_all-8npus_1MB", ["--world", "16"], 16),  # Chakra, world set
    ],
)
def test_a_job_larger_than_the_topology_names_the_option(fixture, opts, world, capsys):
    """Until 2026-12-06: "the imported workload cannot run: workload has 16 ranks but the
    topology only 8", naming no option."""
    rc = main(["replay", str(REAL / fixture), "--topology", "dgx-a100", *opts])
    assert rc == 2
    line = _error(capsys)
    assert "--topology:" in line and f"a job of {world} ranks" in line and "dgx-a100 (8" in line


def test_megatron_tensor_parallel_8_rank_0():
    """Megatron-LM with tensor parallelism 8 on A100-SXM4-80GB (rank 0's trace): the kernels
    are launched by ``cudaLaunchKernelExC``, carry no collective metadata, and the sizes are
    the ``nccl:all_reduce`` host ops' ``Input Dims`` with ``Input type`` ``c10::Half``:
    81 all-reduces of [4, 2048, 4096] (or [2048, 4, 4096]) halves = 67108864 B and 3 of
    [4, 2048] floats = 32768 B (the vocab-parallel cross entropy), all over the 8 ranks.
    ProfilerStep#3 lasts 603240 us."""
    imp = import_trace_dir(REAL / "astra-megatron-tp8", mirror_missing=True)
    assert imp.kind == "gpu" and imp.world == 8 and imp.num_steps == 1
    comms = imp.timelines[0][0].comms
    got = Counter((c.op, c.size_B, c.group) for c in comms)
    world = tuple(range(8))
    assert got == {(AR, 67108864.0, world): 81, (AR, 32768.0, world): 3}
    assert imp.measured_step_times_s() == [pytest.approx(0.603240)]
    assert imp.summary.unknown == {}


def test_a_directory_whose_traces_are_one_level_down_says_where(tmp_path, capsys):
    """A TensorBoard log directory (one subdirectory per run) or an unpacked archive's parent
    was refused with "no Kineto trace files" alone."""
    shutil.copytree(REAL / "param-dlrm-8", tmp_path / "logs" / "dlrm")
    assert main(["replay", str(tmp_path / "logs"), "--topology", "dgx-a100"]) == 2
    line = _error(capsys)
    assert "the subdirectory dlrm holds traces: give it instead" in line


def test_a_directory_holding_an_archive_says_to_extract_it(tmp_path, capsys):
    """param publishes its traces as ``dlrm_kineto.tar.gz``; Chakra its test data as .tgz."""
    d = tmp_path / "dl"
    d.mkdir()
    shutil.make_archive(str(d / "dlrm_kineto"), "gztar", REAL / "param-dlrm-8")
    assert main(["replay", str(d), "--topology", "dgx-a100"]) == 2
    line = _error(capsys)
    assert str(d) in line and "dlrm_kineto.tar.gz is an archive: extract it" in line
