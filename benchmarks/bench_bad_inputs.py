"""The bad-input table of tests/test_bad_inputs.py, tallied into the issue's figures.

    PYTHONPATH=$PWD python benchmarks/bench_bad_inputs.py

Runs every case in one process and counts: tracebacks, hangs (a case over 10 s), runaway
memory (the process's peak RSS; if it stays under 1 GB, no case used more), silent accepts
(exit 0 where 2 was expected), data loss (a sentinel file changed), multi-line errors and
errors that do not name the expected field. Prints one JSON object.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import test_bad_inputs as t  # noqa: E402


def main() -> int:
    """Run the table; exit 1 if any figure is off."""
    tally = {
        "cases": 0,
        "expected_exit_2": 0,
        "tracebacks": 0,
        "hangs_over_10s": 0,
        "silent_accepts": 0,
        "wrong_exit": 0,
        "multi_line_errors": 0,
        "field_not_named": 0,
        "data_loss": 0,
    }
    slowest = (0.0, "")
    with tempfile.TemporaryDirectory(prefix="commsim-bad-") as tmp:
        d = Path(tmp)
        for name, content in t.FILES.items():
            p = d / name
            if isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(content, encoding="utf-8")
        t._traces(d)
        for case in t.CASES:
            tally["cases"] += 1
            tally["expected_exit_2"] += case.code == 2
            sdir = t._prepare(case, d)
            before = {p.name: p.read_bytes() for p in sdir.iterdir()} if sdir else {}
            argv = [a.replace("{d}", str(d)) for a in case.argv]
            try:
                code, _, err, seconds = t.run_case(argv)
            except t.Hang:
                tally["hangs_over_10s"] += 1
                continue
            slowest = max(slowest, (seconds, case.id))
            tally["tracebacks"] += "Traceback" in err
            if code != case.code:
                tally["silent_accepts" if code == 0 else "wrong_exit"] += 1
            lines = t.error_lines(err)
            if case.code == 2:
                tally["multi_line_errors"] += len(lines) > 1
                named = bool(lines) and all(
                    x.replace("{d}", str(d)) in lines[0] for x in (case.field, *case.extra)
                )
                tally["field_not_named"] += not named
            if sdir is not None:
                after = {p.name: p.read_bytes() for p in sdir.iterdir()}
                tally["data_loss"] += after != before
    peak_B = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    report = {
        **tally,
        "slowest_case": {"id": slowest[1], "seconds": round(slowest[0], 2)},
        "peak_rss_MB": round(peak_B / 2**20),
        "runaway_memory_over_1GB": int(peak_B > 2**30),
    }
    print(json.dumps(report, indent=2))
    bad = sum(
        report[k]
        for k in ("tracebacks", "hangs_over_10s", "silent_accepts", "wrong_exit",
                  "multi_line_errors", "field_not_named", "data_loss", "runaway_memory_over_1GB")
    )  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    rc = main()
    print(f"wall {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    sys.exit(rc)
