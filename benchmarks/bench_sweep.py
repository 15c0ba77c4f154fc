"""Sweep speed: the same grid inline (one process) and on a Dask LocalCluster.

    .venv/bin/python benchmarks/bench_sweep.py [--workers 2]

Grid: gpt3-175b-64xa100 with strategy.pp in {2, 4, 8} x hardware.gpu in {A100-80GB, H100-SXM}
(6 points, every one runs). Prints wall time of each way, the speed-up and the load average
before and after (the figure depends on what else the machine runs).
"""

from __future__ import annotations

import argparse
import os
import time

from simulator.studies.sweeps import parse_vary, sweep


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    vary = parse_vary(["strategy.pp=2,4,8", "hardware.gpu=A100-80GB,H100-SXM"])
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    t0 = time.perf_counter()
    inline = sweep("gpt3-175b-64xa100", vary, scheduler="inline")
    t_inline = time.perf_counter() - t0
    t0 = time.perf_counter()
    dask = sweep("gpt3-175b-64xa100", vary, scheduler="local", workers=args.workers)
    t_dask = time.perf_counter() - t0
    same = all(
        abs(a.step_time_s - b.step_time_s) <= 1e-9 * a.step_time_s
        for a, b in zip(inline.points, dask.points, strict=True)
    )
    print(f"points: {len(inline.points)}, identical results: {same}")
    print(f"inline: {t_inline:.1f} s wall")
    print(f"dask LocalCluster, {args.workers} workers: {t_dask:.1f} s wall (incl. cluster start)")
    print(f"speed-up: {t_inline / t_dask:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
