"""Speed and fidelity figures of ``commsim collective`` (prints them; not a test).

Run: ``.venv/bin/python benchmarks/bench_collective.py``. Prints

* wall time of the CLI command ``commsim collective --topology fat-tree-1024 --op all_reduce
  --size 1GiB --json`` (a fresh process: imports, topology build, routing and simulation),
  best of 3, and the in-process split (topology load / simulate) for the same case;
* busbw of the single-node DGX A100 all_reduce of 1 GiB against nccl-tests' ~230 GB/s;
* the 2-node DGX A100 busbw curve 1 MiB..8 GiB (nccl-tests table layout).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMSIM = [sys.executable, "-m", "simulator"]


def cli_wall(args: list[str], repeat: int = 3) -> tuple[float, float, dict]:
    """Best wall and CPU (user + sys) seconds of a fresh ``commsim`` process, and its JSON."""
    best, best_cpu, out = float("inf"), float("inf"), {}
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run(COMMSIM + args, capture_output=True, text=True, check=True, cwd=ROOT)
        best = min(best, time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best_cpu = min(best_cpu, cpu)
        out = json.loads(res.stdout)
    return best, best_cpu, out


def main() -> None:
    from simulator.collectives import simulate_collective
    from simulator.topology import load_topology

    args = [
        "collective",
        "--topology",
        "fat-tree-1024",
        "--op",
        "all_reduce",
        "--size",
        "1GiB",
        "--json",
    ]
    wall, cpu, out = cli_wall(args)
    print(f"commsim {' '.join(args)}  (load average {os.getloadavg()[0]:.1f})")
    print(
        f"  wall {wall:.2f} s, CPU {cpu:.2f} s (best of 3, fresh process)"
        f"  busbw {out['busbw_Bps'] / 1e9:.1f} GB/s"
        f"  algo {out['algo']}/{out['protocol']}  flows {out['n_flows']}"
    )

    t0 = time.process_time()
    topo = load_topology("fat-tree-1024")
    t1 = time.process_time()
    simulate_collective(topo, "all_reduce", 2**30, record=False)
    t2 = time.process_time()
    simulate_collective(topo, "all_reduce", 2**30, record=False)
    t3 = time.process_time()
    print(
        f"  in-process CPU: topology {t1 - t0:.2f} s, first simulate {t2 - t1:.2f} s, "
        f"second (routes cached) {t3 - t2:.2f} s"
    )

    dgx = load_topology("dgx-a100")
    r = simulate_collective(dgx, "all_reduce", 2**30)
    print(
        f"dgx-a100 all_reduce 1GiB: busbw {r.busbw_Bps / 1e9:.1f} GB/s "
        f"(nccl-tests ~230 GB/s; error {100 * (r.busbw_Bps / 230e9 - 1):+.1f} %)"
    )

    two = load_topology("dgx-a100-2node")
    print("dgx-a100-2node all_reduce (nccl, flow):")
    print(f"{'size (B)':>12} {'time (us)':>11} {'algbw (GB/s)':>13} {'busbw (GB/s)':>13}  algo")
    s = 2**20
    while s <= 8 * 2**30:
        r = simulate_collective(two, "all_reduce", float(s), record=False)
        print(
            f"{s:>12d} {r.time_s * 1e6:>11.1f} {r.algbw_Bps / 1e9:>13.2f} "
            f"{r.busbw_Bps / 1e9:>13.2f}  {r.algo}/{r.protocol}"
        )
        s *= 2


if __name__ == "__main__":
    main()
