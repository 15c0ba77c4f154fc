"""The teaching notebooks: they run top to bottom under nbclient, every figure cell draws an
image, the committed files carry their outputs, and the numbers each notebook teaches fall in
the range its text states (the ranges below are quoted from each notebook's "What you should
see")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

#: notebook -> key number -> (low, high), as its text states them
EXPECTED: dict[str, dict[str, tuple[float, float]]] = {
    "01-collectives": {
        "a100_ring_busbw_1GiB_GBps": (220.0, 235.0),
        "h100_nvls_over_ring_4GiB": (1.0, 10.0),
        "two_node_tree_over_ring_64KiB": (1.0, 100.0),
    },
    "02-pipeline-bubbles": {
        "bubble_1f1b_m8": (3 / 11 - 0.03, 3 / 11 + 0.03),
        "bubble_interleaved_v2_m8": (0.14, 0.18),
        "gpipe_over_1f1b_activations_m16": (1.01, 100.0),
    },
    "03-ten-node-sync-async": {
        "ps_sync_over_allreduce": (2.0, 5.0),
        "async_over_sync_ps": (0.5, 0.8),
        "allreduce_straggler_slowdown": (1.05, 1.25),
    },
    "04-sharding": {
        "zero3_over_dp_params": (0.12, 0.13),
        "zero3_over_dp_wire": (1.4, 1.6),
        "zero1_over_dp_wire": (0.99, 1.01),
    },
    "05-compression": {
        "powersgd_speedup_10gbe": (3.0, 100.0),
        "powersgd_speedup_1tbe": (0.9, 1.35),
        "error_feedback_GB": (0.45, 0.55),
    },
    "06-multi-datacenter": {
        "flat_over_hierarchical": (1.05, 1.25),
        "hierarchical_over_local_sgd": (1.1, 1.4),
        "latency_x10_slowdown": (1.5, 100.0),
    },
    "07-capacity-planning": {
        "best_usd_per_step": (0.3, 1.0),
        "a100_pp8_over_target": (1.5, 2.5),
        "powersgd_gain_10gbe": (3.0, 100.0),
    },
    "08-real-trace": {
        "replay_error_pct": (-20.0, 20.0),
        "fsdp64_compute_share": (0.5, 1.0),
        "ib_x2_change_pct": (-10.0, 10.0),
    },
}


def _figure_cells(nb: Any) -> list[Any]:
    return [c for c in nb.cells if "figure" in c.metadata.get("tags", [])]


def _has_png(cell: Any) -> bool:
    return any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))


def _key_numbers(nb: Any) -> dict[str, float]:
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            if "KEY-NUMBERS " in text:
                return dict(json.loads(text.split("KEY-NUMBERS ", 1)[1]))
    raise AssertionError("no KEY-NUMBERS output")


def test_eight_notebooks_are_shipped() -> None:
    assert [p.stem for p in NOTEBOOKS] == sorted(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_carries_its_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "%matplotlib inline" in source
    assert 'matplotlib.use("Agg")' not in source  # Agg draws nothing inline
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    figs = _figure_cells(nb)
    assert figs and all(_has_png(c) for c in figs)
    assert set(_key_numbers(nb)) == set(EXPECTED[path.stem])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_draws_and_teaches_its_numbers(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    missing = [c.source.splitlines()[0] for c in _figure_cells(nb) if not _has_png(c)]
    assert not missing, f"figure cells without an image: {missing}"
    got = _key_numbers(nb)
    for key, (lo, hi) in EXPECTED[path.stem].items():
        assert lo <= got[key] <= hi, f"{path.stem}: {key} = {got[key]:.4g}, text says {lo}..{hi}"
