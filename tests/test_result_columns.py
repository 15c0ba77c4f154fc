"""StepResult keeps its rank and link tables as columns: the tables built from them on first
use, and the busiest links read from them, equal what pandas gives."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from simulator.core.jsonvalue import plain
from simulator.engine import simulate
from simulator.engine.records import LINK_COLUMNS, links_table
from tests.test_engine import NODES_2X2, topo, tp_pipeline


@pytest.mark.parametrize("k", [0, 1, 3, 10_000])
def test_busiest_links_json_is_the_tables_rows(tmp_path: Path, k: int) -> None:
    res = simulate(tp_pipeline(3), topo(tmp_path, NODES_2X2), record=False)
    want = [
        {str(c): plain(v) for c, v in row.items()}
        for row in res.busiest_links(k).to_dict(orient="records")
    ]
    got = res.busiest_links_json(k)
    assert got == want
    assert [[type(v) for v in row.values()] for row in got] == [
        [type(v) for v in row.values()] for row in want
    ]
    assert len(got) == min(k, len(res.links))


def test_tables_are_built_once_with_the_old_columns(tmp_path: Path) -> None:
    t = topo(tmp_path, NODES_2X2)
    res = simulate(tp_pipeline(2), t, record=False)
    assert res.links is res.links and res.ranks is res.ranks
    assert list(res.links.columns) == list(LINK_COLUMNS)
    assert list(res.ranks.columns) == [
        "rank", "end_s", "compute_s", "comm_s", "exposed_comm_s", "bubble_s",
    ]  # fmt: skip
    cols = res._link_columns
    again = links_table(t, cols["bytes_B"], cols["busy_s"], cols["peak"], res.makespan_s, 1)
    pd.testing.assert_frame_equal(res.links, again)
    assert res.ranks["rank"].tolist() == res.simulated_ranks
