"""Exposed communication of a real DDP trace on a slower network, against a bucket model.

The trace: ``tests/fixtures/real/hta-a100-ddp`` (HTA test data, A100, DDP, 2 ranks, rank 0
given, ``--mirror-ranks``). Two predictions of the communication a slower network exposes
(step time there minus step time on ``dgx-a100``, per step):

1. the trace replayed as imported (all its ops and dependencies: launches, DDP's stream waits,
   host regions after the first wait);
2. a 10-op DDP bucket model built from a few of the same trace's numbers: compute up to each
   collective's launch, the collectives (same sizes, one NCCL stream), compute up to DDP's
   first wait; then the GPU work after the waits (kernel busy time) after every all-reduce,
   beside the host's own time to the step's end (the host keeps launching while the GPU
   waits). This is what DDP's schedule predicts with no other dependency.

If the importer invented waits (the gap heuristic it used until 2026-12-04), (1) would exceed
(2). Networks: ``ten-node-10gbe`` (10 GbE) and the same with its Ethernet links at 0.1x
(1 GbE), where the exposure is large. Run: ``python benchmarks/bench_ddp_exposed.py``.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from simulator.core.ir import Program, Workload
from simulator.core.vocab import CollectiveOp
from simulator.engine import simulate
from simulator.topology import Topology, load_topology
from simulator.topology.whatif import scale_links
from simulator.traces.kineto import import_trace_dir
from simulator.traces.replay import chained_workload
from simulator.traces.timeline import StepTimeline

TRACE = Path(__file__).parent.parent / "tests" / "fixtures" / "real" / "hta-a100-ddp"
FAST = "dgx-a100"


def networks() -> dict[str, Topology]:
    """The reference and the two slower networks."""
    ten = load_topology("ten-node-10gbe")
    return {
        FAST: load_topology(FAST),
        "10 GbE (ten-node-10gbe)": ten,
        "1 GbE (ten-node-10gbe, ethernet x 0.1)": scale_links(ten, bandwidth={"ethernet": 0.1}),
    }


def bucket_model(tl: StepTimeline, rank: int) -> Program:
    """DDP's schedule from one step's numbers (see the module docstring)."""
    p = Program(rank=rank)
    t = tl.start_s
    prev: int | None = None
    ars = []
    for c in sorted(tl.comms, key=lambda c: c.launch_s):
        prev = p.compute("c", duration_s=c.launch_s - t, deps=[] if prev is None else [prev])
        t = c.launch_s
        cid = p.collective(
            "b", op=CollectiveOp(c.op), group=c.group, size_B=c.size_B, deps=[prev], stream="comm"
        )
        if c.op == CollectiveOp.ALL_REDUCE:
            ars.append(cid)
    first_wait = min(w.start_s for w in tl.waits)
    tail = p.compute("bwd.tail", duration_s=first_wait - t, deps=[] if prev is None else [prev])
    busy_after = sum(pc.end_s - pc.start_s for pc in tl.pieces if pc.start_s >= first_wait)
    gpu = p.compute("after.waits", duration_s=busy_after, deps=[tail, *ars])
    host = p.compute("host", duration_s=tl.end_s - first_wait, deps=[tail], stream="host")
    p.compute("end", duration_s=0.0, deps=[gpu, host])
    return p


def step_s(wl: Workload, topo: Topology) -> float:
    """Simulated step time (s)."""
    return float(simulate(wl, topo, backend="nccl").step_time_s)


def main() -> None:
    """Print both exposed-communication figures per network and their difference."""
    imp = import_trace_dir(TRACE, mirror_missing=True)
    n = len(imp.good_steps)
    chain = chained_workload(imp, imp.good_steps).workload
    nets = networks()
    replay = {name: step_s(chain, topo) / n for name, topo in nets.items()}
    model = {
        name: statistics.fmean(
            step_s(
                Workload(programs=[bucket_model(imp.timelines[r][k], r) for r in range(imp.world)]),
                topo,
            )
            for k in imp.good_steps
        )
        for name, topo in nets.items()
    }
    for name in nets:
        print(f"{name:30s} replay {replay[name] * 1e3:9.3f} ms   model {model[name] * 1e3:9.3f} ms")
    for name in list(nets)[1:]:
        er, em = replay[name] - replay[FAST], model[name] - model[FAST]
        diff = f"{100 * (er - em) / em:+.1f} %" if em > 0 else "n/a (0 exposed)"
        print(
            f"exposed on {name}: replay {er * 1e3:.3f} ms, bucket model {em * 1e3:.3f} ms, {diff}"
        )


if __name__ == "__main__":
    main()
