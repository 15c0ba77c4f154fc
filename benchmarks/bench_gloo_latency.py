"""Small-message gloo all_reduce latency against the number of local ranks (no rig, loopback).

    .venv/bin/python benchmarks/bench_gloo_latency.py [--worlds 2,3,4] [--sizes 4096,65536]

Separates the rig's network emulation from the host: if a 4 KiB all_reduce is slow with 4 ranks
on loopback too, the 4-host rig's latency comes from the CPU, not from the veths or shapers
(docs/rig.md, "CPU-bound latency with more ranks than cores"). Prints median, p10 and p90 of
``--iters`` timed all_reduces on rank 0, after 20 warm-up calls; one thread per rank, as the
recorder runs them.
"""

from __future__ import annotations

import argparse
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank(rank: int, world: int, size_B: int, iters: int, port: int) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    t = torch.ones(size_B // 4)
    for _ in range(20):
        dist.all_reduce(t)
    dist.barrier()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        dist.all_reduce(t)
        times.append(time.perf_counter() - t0)
    times.sort()
    if rank == 0:
        med, p10, p90 = (times[int(q * (iters - 1))] * 1e3 for q in (0.5, 0.1, 0.9))
        print(
            f"world {world}  size {size_B:>7} B  median {med:7.3f} ms  p10 {p10:7.3f} ms  "
            f"p90 {p90:7.3f} ms",
            flush=True,
        )
    dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worlds", default="2,3,4")
    ap.add_argument("--sizes", default="4096,65536")
    ap.add_argument("--iters", type=int, default=200)
    args = ap.parse_args()
    print(f"cpu cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    for world in (int(w) for w in args.worlds.split(",")):
        for size in (int(s) for s in args.sizes.split(",")):
            mp.spawn(_rank, args=(world, size, args.iters, _free_port()), nprocs=world)


if __name__ == "__main__":
    main()
