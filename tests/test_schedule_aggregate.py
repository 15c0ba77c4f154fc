"""``aggregate`` returns the per-key sums, bit for bit, whether it rebuilds them or (every key
once, positive float sizes) hands the transfers back as they are."""

from __future__ import annotations

import math
import random

import pytest

from simulator.collectives.schedule import Transfer, aggregate


def _reference(ts: list[Transfer]) -> tuple[Transfer, ...]:
    acc: dict[tuple[int, int, int], float] = {}
    for t in ts:
        key = (t.src, t.dst, t.channel)
        acc[key] = acc.get(key, 0.0) + t.size_B
    return tuple(Transfer(s, d, b, c) for (s, d, c), b in acc.items())


def _bits(ts: tuple[Transfer, ...]) -> list[tuple[int, int, int, str, str]]:
    return [(t.src, t.dst, t.channel, type(t.size_B).__name__, float(t.size_B).hex()) for t in ts]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("sizes", ["positive", "odd"])
def test_aggregate_equals_the_summing_reference(seed: int, sizes: str) -> None:
    rng = random.Random(seed)
    n = rng.choice([3, 50, 400])
    pairs = {(rng.randrange(40), rng.randrange(40), rng.randrange(4)) for _ in range(n)}
    odd: list[float] = [0.0, -0.0, 3, 2**-1074, math.inf]
    ts = [
        Transfer(s, d, rng.choice(odd) if sizes == "odd" else rng.uniform(1e-9, 1e9), c)
        for s, d, c in pairs
    ]
    if seed % 2:  # repeated keys sum
        ts += rng.sample(ts, len(ts) // 3)
    assert _bits(aggregate(iter(ts))) == _bits(_reference(ts))


def test_unique_positive_transfers_come_back_as_they_are() -> None:
    ts = [Transfer(i, i + 1, 1.5 * (i + 1), i % 2) for i in range(10)]
    out = aggregate(ts)
    assert all(a is b for a, b in zip(out, ts, strict=True))
    assert aggregate([ts[0], ts[0]]) == (Transfer(0, 1, 3.0, 0),)


def test_a_nan_or_int_size_is_summed_not_handed_back() -> None:
    ts = [Transfer(0, 1, math.nan, 0), Transfer(1, 2, 2.0, 0)]
    out = aggregate(ts)
    assert out[0] is not ts[0] and math.isnan(out[0].size_B)
    assert _bits(aggregate([Transfer(0, 1, 3, 0)])) == [(0, 1, 0, "float", (3.0).hex())]
