"""Report writers: Chrome trace JSON, PNG plots, CSV/Parquet tables, the summary table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from simulator.core.ir import Program, Workload
from simulator.core.vocab import CollectiveOp
from simulator.engine import StepResult, simulate
from simulator.report.plots import plot_links, plot_timeline, sample_ranks, timeline_title
from simulator.report.summary import print_summary
from simulator.report.tables import parquet_available, write_tables
from simulator.report.timeline import chrome_trace, link_utilisation_bins, write_timeline
from simulator.topology import load_topology

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

TOPO = """
name: three-hosts
nodes:
  - {name: g0, kind: gpu}
  - {name: g1, kind: gpu}
  - {name: g2, kind: gpu}
  - {name: sw, kind: switch}
links:
  - {a: g0, b: sw, bandwidth: 8Gbps, latency: 1us, kind: ethernet}
  - {a: g1, b: sw, bandwidth: 8Gbps, latency: 1us, kind: ethernet}
  - {a: g2, b: sw, bandwidth: 80Gbps, latency: 1us, kind: infiniband}
"""


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> StepResult:
    p = tmp_path_factory.mktemp("topo") / "t.yaml"
    p.write_text(TOPO)
    t = load_topology(p)
    progs = []
    for r in range(3):
        prog = Program(rank=r)
        prev: tuple[int, ...] = ()
        for m in range(3):
            c = prog.compute(f"fwd.mb{m}", duration_s=2e-4, deps=prev, category="fwd")
            if r < 2:
                prev = (
                    prog.send(f"s{m}", peer=r + 1, size_B=1e5, tag=m, category="pp", deps=(c,)),
                )
            if r > 0:
                prog.recv(f"r{m}", peer=r - 1, size_B=1e5, tag=m, category="pp")
        prog.collective(
            "ar.grads", op=CollectiveOp.ALL_REDUCE, group=(0, 1, 2), size_B=3e6, category="dp"
        )
        progs.append(prog)
    return simulate(Workload(programs=progs), t)


def test_chrome_trace_schema(result: StepResult, tmp_path: Path) -> None:
    path = write_timeline(result, tmp_path / "timeline.json")
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) == len(result.ops)
    for e in complete:
        assert {"name", "ph", "ts", "dur", "pid", "tid"} <= e.keys()
        assert e["dur"] >= 0 and e["ts"] >= 0
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    assert {"rank 0", "rank 1", "rank 2", "links"} <= names
    ar = [e for e in complete if e["name"].startswith("ar.grads")]
    assert len(ar) == 3 and "all_reduce" in ar[0]["name"] and "g[0..2]" in ar[0]["name"]
    assert ar[0]["args"]["size_B"] == 3e6
    counters = [e for e in events if e["ph"] == "C"]
    assert counters and all(0.0 <= e["args"]["utilisation"] <= 1.0 + 1e-9 for e in counters)


def test_link_bins_conserve_bytes(result: StepResult) -> None:
    busiest = result.busiest_links(3)
    ids = [int(x) for x in busiest["link"]]
    edges, util = link_utilisation_bins(result, ids, bins=50)
    width = edges[1] - edges[0]
    for j, row in enumerate(busiest.itertuples(index=False)):
        binned_B = util[j].sum() * row.capacity_Bps * width
        assert binned_B == pytest.approx(row.bytes_B, rel=1e-6)


def test_trace_is_json_only(result: StepResult) -> None:
    json.dumps(chrome_trace(result))  # no numpy scalars or other non-JSON values


def test_timeline_title_counts_the_steps_it_draws(result: StepResult) -> None:
    """A replay draws its N measured steps back to back: the title says so and gives the time
    per step, instead of calling the whole run one step (it read "step 442.2 ms" over two
    replayed steps of 221 ms)."""
    shown = len(result.simulated_ranks)
    assert timeline_title(result, shown).startswith("timeline: step ")
    two = timeline_title(result, shown, steps=2)
    assert two.startswith("timeline: 2 steps, ")
    ms = result.makespan_s * 1e3
    assert f"({ms / 2:.4g} ms per step)" in two
    assert "1 of 3 simulated ranks shown" in timeline_title(result, 1)


def test_pngs(result: StepResult, tmp_path: Path) -> None:
    for path in (
        plot_timeline(result, tmp_path / "timeline.png"),
        plot_links(result, tmp_path / "links.png"),
    ):
        assert path.read_bytes()[:8] == PNG_MAGIC


def test_sample_ranks_keeps_critical() -> None:
    ranks = list(range(1000))
    chosen = sample_ranks(ranks, critical=501, limit=64)
    assert len(chosen) == 64 and 501 in chosen and chosen == sorted(chosen)
    assert sample_ranks([3, 1, 2], critical=1) == [1, 2, 3]


def test_tables(result: StepResult, tmp_path: Path) -> None:
    paths = write_tables(result, tmp_path, flows=True)
    ops = pd.read_csv(tmp_path / "ops.csv")
    assert len(ops) == len(result.ops)
    assert {
        "rank",
        "id",
        "name",
        "kind",
        "category",
        "stream",
        "start_s",
        "end_s",
        "size_B",
    } <= set(ops.columns)
    links = pd.read_csv(tmp_path / "links.csv")
    assert {
        "link",
        "src",
        "dst",
        "kind",
        "capacity_Bps",
        "bytes_B",
        "busy_s",
        "utilisation",
        "peak",
    } <= set(links.columns)
    if parquet_available():
        assert (tmp_path / "ops.parquet") in paths
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "links.parquet"), result.links)


def test_summary_has_units(result: StepResult) -> None:
    console = Console(record=True, width=140)
    print_summary(
        result,
        console=console,
        memory_per_gpu_B={"total": 2**30},
        reference={"step_time_s": result.step_time_s * 2, "source": "made-up for the test"},
    )
    text = console.export_text()
    assert "step time" in text and "exposed communication" in text
    assert " ms" in text or " us" in text or "µs" in text
    assert "-50.0 %" in text
    assert "GiB" in text or "GB" in text


def test_summary_names_the_what_ifs_it_ran_under(result: StepResult) -> None:
    """`run --set network.bandwidth_scale.infiniband=2` or a `faults:` section printed the same
    table as the plain run: nothing in it said what had been changed."""
    console = Console(record=True, width=140)
    print_summary(
        result,
        console=console,
        what_if={"bandwidth_scale": {"infiniband": 2.0, "pcie": 2.0}, "latency_scale": {}},
        faults={"links": [{"link": "leaf0->spine*", "at": 2.0}], "nics": [], "jitter": None},
    )
    text = console.export_text()
    assert "what-if: bandwidth x" in text and "infiniband 2, pcie 2" in text
    assert "what-if: latency x" not in text
    assert "links: 1" in text and "nics" not in text
    plain = Console(record=True, width=140)
    print_summary(result, console=plain, what_if={"bandwidth_scale": {}, "latency_scale": {}})
    assert "what-if" not in plain.export_text() and "faults" not in plain.export_text()


def test_summary_shows_clock_round_off_as_zero() -> None:
    """llama2-70b-fsdp-256xh100's bubble (1.8e-15 s, makespan less compute and exposed
    communication) printed as "0.001776 ps"."""
    from simulator.report.summary import format_part

    assert format_part(1.7763568394002505e-15) == "0 s"
    assert format_part(-3e-16) == "0 s"
    assert format_part(2.5e-6) == "2.5 us"
