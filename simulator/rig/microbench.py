"""Collective microbenchmarks on the rig, as nccl-tests tables with the simulator beside them.

:func:`run_microbench` builds the rig of a topology and runs
:mod:`simulator.rig.bench_worker` in every host (real ``torch.distributed`` gloo
collectives). :func:`predict_rows` asks :func:`simulator.collectives.simulate_collective` for
the same (op, size) with a backend profile, and :func:`format_table` prints both:

    size  count  type  time_us  algbw_GBps  busbw_GBps | predicted_us  error_%

algbw = size / time and busbw = algbw x ``busbw_factor(op, n)`` exactly as nccl-tests'
PERFORMANCE.md defines them; ``time`` is the median of the timed iterations, each the slowest
rank's. Results are saved as JSON so calibration and reports can reuse a run.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from simulator.collectives import busbw_factor, simulate_collective
from simulator.core.errors import InputError
from simulator.rig.cluster import Rig

#: Ops the simulator predicts (``send_sender`` and ``concurrent_all_reduce`` are measured for
#: calibration only).
PREDICTED_OPS = ("all_reduce", "all_gather", "reduce_scatter", "broadcast", "send_recv")
ALL_OPS = (*PREDICTED_OPS, "send_sender", "concurrent_all_reduce")
#: Collectives issued at once by ``concurrent_all_reduce`` (see ``bench_worker``).
CONCURRENT_K = 4
#: 4 KiB .. 64 MiB by factors of 4 (nccl-tests' ``-b 4K -e 64M -f 4``).
DEFAULT_SIZES_B = tuple(4096 * 4**i for i in range(8))


@dataclass(frozen=True)
class BenchRow:
    """One measured (op, size): every timed iteration's time (the slowest rank's), seconds."""

    op: str
    size_B: int
    n_ranks: int
    times_s: tuple[float, ...]

    @property
    def median_s(self) -> float:
        """Median iteration time, seconds."""
        return float(statistics.median(self.times_s))

    @property
    def spread(self) -> float:
        """Interquartile range over the median (dimensionless; 0.1 = 10 %)."""
        ts = sorted(self.times_s)
        if len(ts) < 4:
            return (ts[-1] - ts[0]) / self.median_s
        q = statistics.quantiles(ts, n=4)
        return (q[2] - q[0]) / self.median_s


@dataclass(frozen=True)
class Microbench:
    """A microbenchmark run: which topology, and its rows."""

    topology: str
    n_ranks: int
    rows: tuple[BenchRow, ...]
    command: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (see :func:`load_microbench`)."""
        return {
            "topology": self.topology,
            "n_ranks": self.n_ranks,
            "command": self.command,
            "rows": [asdict(r) for r in self.rows],
        }

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_json` to ``path``."""
        Path(path).write_text(json.dumps(self.to_json(), indent=1))


def load_microbench(path: str | Path) -> Microbench:
    """Read a run saved with :meth:`Microbench.save`; :class:`InputError` if malformed."""
    try:
        d = json.loads(Path(path).read_text())
        rows = tuple(
            BenchRow(str(r["op"]), int(r["size_B"]), int(r["n_ranks"]), tuple(r["times_s"]))
            for r in d["rows"]
        )
        return Microbench(str(d["topology"]), int(d["n_ranks"]), rows, str(d.get("command", "")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not a microbenchmark result: {exc}", file=str(path)) from None


def run_microbench(
    topology: Any,
    *,
    ops: Sequence[str] = PREDICTED_OPS,
    sizes_B: Sequence[int] = DEFAULT_SIZES_B,
    budget_s: float = 1.5,
    timeout_s: float = 1800.0,
    command: str = "",
) -> Microbench:
    """Build the rig of ``topology`` and measure ``ops`` x ``sizes_B`` with gloo.

    ``budget_s``: timed seconds per (op, size) (5..30 iterations). Raises ``RuntimeError``
    with the failing rank's stderr when a rank fails.
    """

    for op in ops:
        if op not in ALL_OPS:
            raise InputError(f"unknown op {op!r} (choose from {', '.join(ALL_OPS)})", field="ops")
    argv = [
        sys.executable,
        "-m",
        "simulator.rig.bench_worker",
        "--ops",
        ",".join(ops),
        "--sizes",
        ",".join(str(int(s)) for s in sizes_B),
        "--budget-s",
        str(budget_s),
    ]
    with Rig(topology) as rig:
        results = rig.launch(lambda r: argv, {"OMP_NUM_THREADS": "1"}, timeout_s)
        name = str(rig.topology.name)
        n = rig.world_size
    for r, res in enumerate(results):
        if res.returncode != 0:
            raise RuntimeError(f"rank {r} failed ({res.returncode}): {res.stderr[-2000:]}")
    data = json.loads(results[0].stdout.strip().splitlines()[-1])
    rows = tuple(
        BenchRow(str(x["op"]), int(x["size_B"]), n, tuple(float(t) for t in x["times_s"]))
        for x in data["results"]
    )
    return Microbench(name, n, rows, command)


def predict_row(topology: Any, row: BenchRow, backend: Any) -> float | None:
    """The simulator's time (s) for ``row`` on ``topology`` with ``backend``; None if unmodelled."""

    if row.op not in PREDICTED_OPS:
        return None
    ranks = [0, topology.num_ranks - 1] if row.op == "send_recv" else None
    return simulate_collective(
        topology, row.op, float(row.size_B), ranks=ranks, backend=backend
    ).time_s


def predict_rows(topology: Any, rows: Sequence[BenchRow], backend: Any) -> list[float | None]:
    """:func:`predict_row` for every row."""
    return [predict_row(topology, r, backend) for r in rows]


def error_pct(predicted_s: float, measured_s: float) -> float:
    """Signed error of a prediction, percent of the measurement."""
    return 100.0 * (predicted_s - measured_s) / measured_s


def table_rows(bench: Microbench, predicted: Sequence[float | None]) -> list[dict[str, Any]]:
    """nccl-tests-like records: size, time, algbw, busbw, predicted time and error."""

    out = []
    for row, pred in zip(bench.rows, predicted, strict=True):
        t = row.median_s
        algbw = row.size_B / t
        rec: dict[str, Any] = {
            "op": row.op,
            "size_B": row.size_B,
            "n_ranks": row.n_ranks,
            "iters": len(row.times_s),
            "time_s": t,
            "spread": row.spread,
            "algbw_Bps": algbw,
            "busbw_Bps": algbw * busbw_factor(row.op, row.n_ranks)
            if row.op in PREDICTED_OPS
            else None,
            "predicted_s": pred,
            "error_pct": error_pct(pred, t) if pred is not None else None,
        }
        out.append(rec)
    return out


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """The records as an nccl-tests-style text table (times in us, bandwidths in GB/s)."""
    head = (
        f"{'op':>15} {'size':>10} {'iters':>5} {'time_us':>11} {'spread':>6} "
        f"{'algbw_GB/s':>10} {'busbw_GB/s':>10} {'pred_us':>11} {'err_%':>7}"
    )
    lines = [head]
    for r in records:
        busbw = f"{r['busbw_Bps'] / 1e9:10.4f}" if r["busbw_Bps"] is not None else f"{'-':>10}"
        pred = f"{r['predicted_s'] * 1e6:11.1f}" if r["predicted_s"] is not None else f"{'-':>11}"
        err = f"{r['error_pct']:7.1f}" if r["error_pct"] is not None else f"{'-':>7}"
        lines.append(
            f"{r['op']:>15} {r['size_B']:>10} {r['iters']:>5} {r['time_s'] * 1e6:11.1f} "
            f"{r['spread']:6.2f} {r['algbw_Bps'] / 1e9:10.4f} {busbw} {pred} {err}"
        )
    return "\n".join(lines)


def summarize(records: Sequence[dict[str, Any]], min_size_B: int = 1 << 20) -> dict[str, Any]:
    """Median and max |error| over predicted rows of at least ``min_size_B``, per op and all."""
    sel = [r for r in records if r["error_pct"] is not None and r["size_B"] >= min_size_B]
    out: dict[str, Any] = {"min_size_B": min_size_B, "n": len(sel)}
    if sel:
        errs = [abs(r["error_pct"]) for r in sel]
        out["median_abs_error_pct"] = statistics.median(errs)
        out["max_abs_error_pct"] = max(errs)
        per_op = {}
        for op in sorted({r["op"] for r in sel}):
            e = [abs(r["error_pct"]) for r in sel if r["op"] == op]
            per_op[op] = {"median_abs_error_pct": statistics.median(e), "max_abs_error_pct": max(e)}
        out["per_op"] = per_op
    return out
