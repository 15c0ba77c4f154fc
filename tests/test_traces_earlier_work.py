"""Device work launched before the profiler started (real trace, provenance in
tests/fixtures/real/README.md).

``hta-a2a-2-early`` is HTA's ``trace_diff/test.json.gz``, its first ProfilerStep, with the
614 device events whose launch is not in the file and whose ``correlation`` is below every
runtime call's (the file's first is 1941216): work launched in the unrecorded step before.
Four of them are NCCL kernels (one SendRecv = all_to_all, three all-reduces; 10.7 ms + 10.5 ms
+ 0.09 ms + 1.0 ms on the stream, read from the file) whose host ops are not in the trace.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

from simulator.cli import main
from simulator.traces.kineto import import_trace_dir

REAL = Path(__file__).parent / "fixtures" / "real"
EARLY = REAL / "hta-a2a-2-early"


def _events() -> list[dict]:
    with gzip.open(EARLY / "test.json.gz") as fh:
        return json.load(fh)["traceEvents"]


def test_fixture_holds_work_launched_before_the_trace():
    """What the test below relies on, read from the file itself."""
    ev = _events()
    corr = {e["args"]["correlation"] for e in ev if e.get("cat") == "cuda_runtime"}
    first = min(corr)
    early = [
        e
        for e in ev
        if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")
        and e["args"].get("correlation") not in corr
    ]
    assert len(early) == 614 and all(e["args"]["correlation"] < first for e in early)
    nccl = Counter(e["name"].split("_")[1] for e in early if e["name"].startswith("nccl"))
    assert nccl == Counter({"SendRecv": 1, "AllReduce": 3})


def test_work_launched_before_the_trace_is_earlier_work():
    """Until 2026-12-06 the 4 NCCL kernels were put in the first step, where nothing gives
    their size, and the file was refused ("no size for all_reduce"). Now they are the
    unrecorded step's: the step's collectives are exactly those of ``hta-a2a-2`` (the same
    step trimmed without them), and the lane starts when the GPU is done with them."""
    imp = import_trace_dir(EARLY, mirror_missing=True)
    ref = import_trace_dir(REAL / "hta-a2a-2", mirror_missing=True)
    got, want = imp.timelines[1][0], ref.timelines[1][0]
    assert [(c.op, c.size_B) for c in got.comms] == [(c.op, c.size_B) for c in want.comms]
    assert imp.summary.skipped["kernel-launched-before-trace"] == 614
    assert imp.summary.unknown == Counter()
    ev = _events()
    corr = {e["args"]["correlation"] for e in ev if e.get("cat") == "cuda_runtime"}
    early_end = max(
        e["ts"] + e["dur"]
        for e in ev
        if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")
        and e["args"].get("correlation") not in corr
    )
    # ProfilerStep#1009 begins at 1661938466265087 us; the earlier work ends 39.3 ms later
    assert abs(got.start_s - early_end * 1e-6) < 1e-6
    assert want.start_s < got.start_s


def test_replay_of_the_first_step_with_its_earlier_work(capsys):
    """ProfilerStep#1009 measured 100.298 ms. Without the earlier work in the file (the
    ``hta-a2a-2`` trim) the replay over-predicts by 57 % (the GPU ran the previous step's tail
    inside it); with it, the lane starts after that tail."""
    argv = ["replay", str(EARLY), "--topology", "dgx-a100", "--mirror-ranks", "--json"]
    assert main(argv) == 0
    got = json.loads(capsys.readouterr().out)
    argv[1] = str(REAL / "hta-a2a-2")
    assert main(argv) == 0
    ref = json.loads(capsys.readouterr().out)
    assert abs(got["measured_step_s"] - 0.100298) < 1e-5
    assert got["measured_step_s"] == ref["measured_step_s"]
    assert got["measured_step_s"] < got["predicted_step_s"] < ref["predicted_step_s"]
