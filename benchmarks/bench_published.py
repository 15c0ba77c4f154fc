"""Time every published reference row (simulator/data/published.yaml) and print its result.

Usage: ``.venv/bin/python benchmarks/bench_published.py [--fidelity analytical|flow] [NAME ...]``.
Prints one line per row: reference, predicted vs expected, error, CPU seconds and wall seconds
of the prediction (topology build + workload build + simulation). The figures recorded in
``benchmarks/RESULTS.md`` (section ``published``) come from this script.
"""

from __future__ import annotations

import argparse
import time

from simulator.studies.published import reference_names, validate_published


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("names", nargs="*", help="rows to time (default: all)")
    ap.add_argument("--fidelity", default=None, help="default: per kind (DEFAULT_FIDELITY)")
    args = ap.parse_args()
    for name in args.names or reference_names():
        w0, c0 = time.perf_counter(), time.process_time()
        (row,) = validate_published([name], fidelity=args.fidelity).rows
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        print(
            f"{name:32s} {row.predicted:8.1f} vs {row.expected:6.0f} {row.unit:16s} "
            f"{row.error_pct:+6.1f}%  cpu {cpu:7.2f} s  wall {wall:7.2f} s  ({row.fidelity})",
            flush=True,
        )


if __name__ == "__main__":
    main()
