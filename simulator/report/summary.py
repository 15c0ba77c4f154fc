"""The human summary of a run: a rich table with units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.table import Table

from simulator.core.units import format_bandwidth, format_size, format_time
from simulator.engine import StepResult

#: Below this a breakdown time is the round-off of the event clock (the bubble is the
#: makespan less compute and exposed communication: 1.8e-15 s on llama2-70b-fsdp-256xh100),
#: not a time anyone can use; the variants table of ``commsim run`` drew the same line.
RESIDUE_S = 1e-9


def format_part(time_s: float) -> str:
    """:func:`~simulator.core.units.format_time` of a part of the step, with a residue under
    :data:`RESIDUE_S` shown as ``0 s`` (it printed as "0.001776 ps")."""
    return format_time(0.0 if abs(time_s) < RESIDUE_S else time_s)


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:5.1f} %" if whole > 0 else "  -  "


def summary_table(
    result: StepResult,
    *,
    title: str = "commsim run",
    memory_per_gpu_B: Mapping[str, float] | None = None,
    reference: Mapping[str, Any] | None = None,
    what_if: Mapping[str, Any] | None = None,
    faults: Mapping[str, Any] | None = None,
) -> Table:
    """Step time and its breakdown (critical rank), memory, the published reference, and the
    what-ifs the run applied (:func:`what_if_rows`), so that a printed table says what it is."""
    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_column("share of step", justify="right")
    step = result.step_time_s
    t.add_row("step time", format_time(step), "100.0 %")
    t.add_row("  compute", format_part(result.compute_s), _pct(result.compute_s, step))
    t.add_row(
        "  exposed communication",
        format_part(result.exposed_comm_s),
        _pct(result.exposed_comm_s, step),
    )
    t.add_row("  bubble / idle", format_part(result.bubble_s), _pct(result.bubble_s, step))
    t.add_row("communication (incl. hidden)", format_part(result.comm_s), _pct(result.comm_s, step))
    for cat, secs in result.exposed_comm_by_category_s.items():
        total = result.comm_by_category_s.get(cat, 0.0)
        t.add_row(
            f"  {cat}: exposed / total",
            f"{format_part(secs)} / {format_part(total)}",
            _pct(secs, step),
        )
    t.add_row("critical rank", str(result.critical_rank), "")
    t.add_row(
        "ranks simulated / world",
        f"{len(result.simulated_ranks)} / {result.world}",
        "",
    )
    t.add_row("backend, fidelity", f"{result.backend}, {result.fidelity}", "")
    for name, value in what_if_rows(what_if, faults):
        t.add_row(name, value, "")
    if memory_per_gpu_B:
        for key, val in memory_per_gpu_B.items():
            t.add_row(f"memory per GPU: {key}", format_size(float(val)), "")
    if reference and reference.get("step_time_s"):
        ref = float(reference["step_time_s"])
        err = (step - ref) / ref
        t.add_row(
            "published step time",
            format_time(ref),
            f"pred. {100 * err:+.1f} %",
        )
        if reference.get("source"):
            t.add_row("  source", str(reference["source"]), "")
    return t


def what_if_rows(
    what_if: Mapping[str, Any] | None, faults: Mapping[str, Any] | None
) -> list[tuple[str, str]]:
    """Rows naming what a run changed: ``network.bandwidth_scale`` / ``latency_scale`` factors
    per link kind (``{"bandwidth_scale": {"infiniband": 2.0}}`` -> ``("bandwidth x",
    "infiniband 2")``) and the scenario's ``faults:`` sections (``links: 1``)."""
    rows: list[tuple[str, str]] = []
    for key, label in (
        ("bandwidth_scale", "what-if: bandwidth x"),
        ("latency_scale", "what-if: latency x"),
    ):
        scales = (what_if or {}).get(key) or {}
        if scales:
            rows.append((label, ", ".join(f"{kind} {float(f):g}" for kind, f in scales.items())))
    if faults:
        parts = [
            f"{name}: {len(v)}" if isinstance(v, list) else str(name)
            for name, v in faults.items()
            if v
        ]
        if parts:
            rows.append(("faults", ", ".join(parts)))
    return rows


def links_summary_table(result: StepResult, k: int = 5) -> Table:
    """The ``k`` busiest links: kind, endpoints, capacity, bytes, utilisation."""
    t = Table(title=f"busiest {k} links (mean utilisation over the step)", header_style="bold")
    for col in ("link", "src -> dst", "kind", "capacity", "bytes / step", "util.", "peak"):
        t.add_column(col, justify="right" if col not in ("src -> dst", "kind") else "left")
    for row in result.busiest_links(k).to_dict(orient="records"):
        t.add_row(
            str(row["link"]),
            f"{row['src']} -> {row['dst']}",
            str(row["kind"]),
            format_bandwidth(float(row["capacity_Bps"])),
            format_size(float(row["bytes_per_step_B"])),
            f"{100 * float(row['utilisation']):.1f} %",
            f"{100 * float(row['peak']):.0f} %",
        )
    return t


def print_summary(
    result: StepResult,
    *,
    console: Console | None = None,
    title: str = "commsim run",
    memory_per_gpu_B: Mapping[str, float] | None = None,
    reference: Mapping[str, Any] | None = None,
    k_links: int = 5,
    what_if: Mapping[str, Any] | None = None,
    faults: Mapping[str, Any] | None = None,
) -> None:
    """Print the summary and the busiest links to ``console`` (default: stdout)."""
    console = console or Console()
    console.print(
        Group(
            summary_table(
                result,
                title=title,
                memory_per_gpu_B=memory_per_gpu_B,
                reference=reference,
                what_if=what_if,
                faults=faults,
            ),
            links_summary_table(result, k_links),
        )
    )
