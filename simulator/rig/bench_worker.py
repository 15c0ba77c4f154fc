"""One rank of the collective microbenchmark: real ``torch.distributed`` gloo collectives.

Run by :mod:`simulator.rig.microbench` in every host namespace of a rig (``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` and ``GLOO_SOCKET_IFNAME`` come from the rig)::

    python -m simulator.rig.bench_worker --ops all_reduce,all_gather --sizes 4096,1048576

For every (op, size): warm-up iterations, then ``iters`` timed iterations, each started right
after a barrier; an iteration's time is the slowest rank's (a max all-reduce after the loop).
Rank 0 prints one JSON object: ``{"world": N, "results": [{"op", "size_B", "times_s": [...]},
...]}``. Sizes follow nccl-tests' "size" column (all_gather: the gathered output;
reduce_scatter: the input; send_recv: the message, rank 0 to rank N-1).

Also ``send_sender``: the message of ``send_recv``, timed on the *sender* only (rank 0's
blocking send returns once the transport holds the rest of the message; calibration fits the
backend's ``send_buffer`` from the difference), and ``concurrent_all_reduce``:
``CONCURRENT_K`` all_reduces of ``size`` issued at once with ``async_op=True`` (how many gloo
runs in parallel shows in the time against ``CONCURRENT_K`` sequential ones).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

import torch
import torch.distributed as dist

from simulator.rig.microbench import CONCURRENT_K

OPS = (
    "all_reduce",
    "all_gather",
    "reduce_scatter",
    "broadcast",
    "send_recv",
    "send_sender",
    "concurrent_all_reduce",
)
_F32_B = 4


def _make_op(op: str, size_B: int, rank: int, world: int) -> Callable[[], None]:
    """A closure that runs one ``op`` of ``size_B`` bytes (float32 tensors)."""
    n_el = max(1, size_B // _F32_B)
    if op == "all_reduce":
        t = torch.ones(n_el)
        return lambda: dist.all_reduce(t)
    if op == "all_gather":
        shard = max(1, n_el // world)
        inp = torch.ones(shard)
        outs = [torch.empty(shard) for _ in range(world)]
        return lambda: dist.all_gather(outs, inp)
    if op == "reduce_scatter":
        shard = max(1, n_el // world)
        ins = [torch.ones(shard) for _ in range(world)]
        out = torch.empty(shard)
        return lambda: dist.reduce_scatter(out, ins)
    if op == "broadcast":
        t = torch.ones(n_el)
        return lambda: dist.broadcast(t, src=0)
    if op in ("send_recv", "send_sender"):
        t = torch.ones(n_el)
        last = world - 1

        def sr() -> None:
            if rank == 0:
                dist.send(t, dst=last)
            elif rank == last:
                dist.recv(t, src=0)

        return sr
    if op == "concurrent_all_reduce":
        ts = [torch.ones(n_el) for _ in range(CONCURRENT_K)]

        def many() -> None:
            works = [dist.all_reduce(t, async_op=True) for t in ts]
            for w in works:
                assert w is not None
                w.wait()

        return many
    raise ValueError(f"unknown op {op!r} (choose from {', '.join(OPS)})")


def _iters_for(first_s: float, budget_s: float, lo: int, hi: int) -> int:
    """Iterations that fit ``budget_s`` given one took ``first_s`` (rank 0's choice is used)."""
    t = torch.tensor([min(hi, max(lo, int(budget_s / max(first_s, 1e-6))))], dtype=torch.int64)
    dist.broadcast(t, src=0)
    return int(t.item())


def bench(
    op: str, size_B: int, *, warmup: int, min_iters: int, max_iters: int, budget_s: float
) -> list[float]:
    """Per-iteration times (s) of ``op`` at ``size_B``: each the slowest rank's (for
    ``send_sender``, the sender's)."""
    rank, world = dist.get_rank(), dist.get_world_size()
    run = _make_op(op, size_B, rank, world)
    first = 0.0
    for _ in range(max(1, warmup)):
        dist.barrier()
        t0 = time.perf_counter()
        run()
        first = time.perf_counter() - t0
    first_t = torch.tensor([first], dtype=torch.float64)
    dist.all_reduce(first_t, op=dist.ReduceOp.MAX)
    iters = _iters_for(float(first_t.item()), budget_s, min_iters, max_iters)
    times = torch.zeros(iters, dtype=torch.float64)
    for i in range(iters):
        dist.barrier()
        t0 = time.perf_counter()
        run()
        times[i] = time.perf_counter() - t0
    if op == "send_sender":
        dist.broadcast(times, src=0)  # the sender's own times
    else:
        dist.all_reduce(times, op=dist.ReduceOp.MAX)
    return [float(x) for x in times.tolist()]


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="bench_worker")
    ap.add_argument("--ops", required=True, help="comma-separated ops")
    ap.add_argument("--sizes", required=True, help="comma-separated sizes in bytes")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--min-iters", type=int, default=5)
    ap.add_argument("--max-iters", type=int, default=30)
    ap.add_argument("--budget-s", type=float, default=3.0, help="timed seconds per (op, size)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    results = []
    try:
        for op in args.ops.split(","):
            for size_B in (int(s) for s in args.sizes.split(",")):
                times = bench(
                    op,
                    size_B,
                    warmup=args.warmup,
                    min_iters=args.min_iters,
                    max_iters=args.max_iters,
                    budget_s=args.budget_s,
                )
                results.append({"op": op, "size_B": size_B, "times_s": times})
        dist.barrier()
    finally:
        dist.destroy_process_group()
    if rank == 0:
        print(json.dumps({"world": world, "results": results}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
