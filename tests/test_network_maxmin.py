"""max_min_rates: hand-computed oracles, an independent reference, and property tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.network import max_min_rates

RTOL = 1e-9


def reference_max_min(
    flow_links: list[list[int]], capacity: list[float], caps: list[float]
) -> list[float]:
    """Textbook progressive filling, one bottleneck at a time, in plain Python."""
    n = len(flow_links)
    rate = [0.0] * n
    frozen = [not links for links in flow_links]
    for f in range(n):
        if frozen[f]:
            rate[f] = caps[f]
    remaining = list(capacity)
    while not all(frozen):
        best = math.inf
        for link, cap in enumerate(remaining):
            users = sum(links.count(link) for f, links in enumerate(flow_links) if not frozen[f])
            if users:
                best = min(best, cap / users)
        best = min(best, min(caps[f] for f in range(n) if not frozen[f]))
        for f in range(n):
            if frozen[f]:
                continue
            tight = caps[f] <= best * (1 + RTOL)
            for link in flow_links[f]:
                users = sum(ls.count(link) for g, ls in enumerate(flow_links) if not frozen[g])
                tight |= remaining[link] / users <= best * (1 + RTOL)
            if tight:
                frozen[f] = True
                rate[f] = min(best, caps[f])
                for link in flow_links[f]:
                    remaining[link] -= rate[f]
    return rate


def test_oracle_bottleneck_elsewhere_leaves_share() -> None:
    # A on {0}; B on {0, 1}; link 1 slower: B = 3, A = 10 - 3.
    assert max_min_rates([[0], [0, 1]], [10.0, 3.0]).tolist() == [7.0, 3.0]


def test_oracle_equal_split_and_caps() -> None:
    assert max_min_rates([[0], [0]], [10.0]).tolist() == [5.0, 5.0]
    assert max_min_rates([[0], [0]], [10.0], [1.0, 100.0]).tolist() == [1.0, 9.0]
    assert max_min_rates([[0, 1], [1], [0]], [10.0, 4.0]).tolist() == [2.0, 2.0, 8.0]


def test_flow_without_links_gets_its_cap_or_inf() -> None:
    rates = max_min_rates([[], [], [0]], [10.0], [5.0, math.inf, 20.0])
    assert rates.tolist() == [5.0, math.inf, 10.0]
    assert max_min_rates([[]], [1.0]).tolist() == [math.inf]
    assert max_min_rates([], [1.0]).size == 0


def test_repeated_link_counts_twice() -> None:
    # A crosses link 0 twice (loads it with 2x its rate); B once: 2a + b = 12, a = b.
    assert max_min_rates([[0, 0], [0]], [12.0]).tolist() == [4.0, 4.0]


def test_infinite_capacity_link() -> None:
    rates = max_min_rates([[0], [0, 1]], [math.inf, 5.0], [math.inf, math.inf])
    assert rates.tolist() == [math.inf, 5.0]


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="out of range"):
        max_min_rates([[2]], [1.0, 1.0])
    with pytest.raises(ValueError, match="capacity"):
        max_min_rates([[0]], [-1.0])
    with pytest.raises(ValueError, match="max_rate"):
        max_min_rates([[0]], [1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="max_rate"):
        max_min_rates([[0]], [1.0], [math.nan])


@st.composite
def instances(draw: st.DrawFn) -> tuple[list[list[int]], list[float], list[float]]:
    n_links = draw(st.integers(1, 7))
    capacity = draw(
        st.lists(
            st.sampled_from([1.0, 2.0, 3.0, 7.5, 10.0, 40.0]), min_size=n_links, max_size=n_links
        )
    )
    n_flows = draw(st.integers(0, 12))
    flows = [
        sorted(draw(st.sets(st.integers(0, n_links - 1), max_size=min(4, n_links))))
        for _ in range(n_flows)
    ]
    caps = [draw(st.sampled_from([math.inf, math.inf, 0.5, 2.0, 6.0])) for _ in range(n_flows)]
    return flows, capacity, caps


def _link_loads(flows: list[list[int]], rates: np.ndarray, n_links: int) -> np.ndarray:
    load = np.zeros(n_links)
    for links, r in zip(flows, rates, strict=True):
        for link in links:
            load[link] += r
    return load


@settings(max_examples=300, deadline=None)
@given(instances())
def test_max_min_properties(inst: tuple[list[list[int]], list[float], list[float]]) -> None:
    flows, capacity, caps = inst
    rates = max_min_rates(flows, capacity, caps)
    cap = np.array(capacity)
    assert rates.shape == (len(flows),)
    assert (rates >= 0).all()
    assert (rates <= np.array(caps, dtype=float) * (1 + RTOL)).all()
    load = _link_loads(flows, rates, len(capacity))
    # feasibility: no link over capacity
    assert (load <= cap * (1 + 1e-9)).all()
    # max-min optimality: at its cap, or crossing a saturated link where nobody has more
    for f, links in enumerate(flows):
        if not links:
            assert rates[f] == caps[f]
            continue
        if rates[f] >= caps[f] * (1 - 1e-9):
            continue
        ok = any(
            load[link] >= cap[link] * (1 - 1e-9)
            and all(rates[g] <= rates[f] * (1 + 1e-9) for g, ls in enumerate(flows) if link in ls)
            for link in links
        )
        assert ok, f"flow {f} on {links} at {rates[f]} could grow"
    # agrees with the textbook reference
    assert rates == pytest.approx(reference_max_min(flows, capacity, caps), rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(instances(), st.randoms(use_true_random=False))
def test_permuting_flows_permutes_rates(
    inst: tuple[list[list[int]], list[float], list[float]], rnd: object
) -> None:
    flows, capacity, caps = inst
    perm = list(range(len(flows)))
    rnd.shuffle(perm)  # type: ignore[attr-defined]
    rates = max_min_rates(flows, capacity, caps)
    permuted = max_min_rates([flows[i] for i in perm], capacity, [caps[i] for i in perm])
    assert permuted == pytest.approx(rates[perm], rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(instances())
def test_disjoint_groups_solve_independently(
    inst: tuple[list[list[int]], list[float], list[float]],
) -> None:
    """Two copies of an instance on disjoint link sets get exactly the rates of one copy."""
    flows, capacity, caps = inst
    n = len(capacity)
    doubled = flows + [[link + n for link in links] for links in flows]
    rates = max_min_rates(doubled, capacity + capacity, caps + caps)
    single = max_min_rates(flows, capacity, caps)
    assert rates.tolist() == single.tolist() + single.tolist()
