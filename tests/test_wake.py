"""The runner's light wake-ups keep simpy's event order, ties included."""

from __future__ import annotations

import pytest
import simpy

from simulator.engine.wake import Wake, wake_after


def _order(use_wake: list[bool], delays: list[float]) -> list[tuple[int, float]]:
    """Fire one event per delay, each a Wake or a Timeout, and return (index, time) in the
    order their callbacks ran."""
    env = simpy.Environment()
    fired: list[tuple[int, float]] = []

    def on_wake(w: Wake) -> None:
        fired.append((w.g, env.now))

    for i, (light, d) in enumerate(zip(use_wake, delays, strict=True)):
        if light:
            wake_after(env, d, (on_wake,), i)
        else:
            ev = env.timeout(d)
            ev.callbacks.append(lambda _e, i=i: fired.append((i, env.now)))
    env.run()
    return fired


def test_wakes_and_timeouts_interleave_in_insertion_order_at_equal_times() -> None:
    delays = [1.0, 0.5, 1.0, 0.0, 0.5, 1.0, 0.0]
    all_timeouts = _order([False] * len(delays), delays)
    mixed = _order([i % 2 == 0 for i in range(len(delays))], delays)
    all_wakes = _order([True] * len(delays), delays)
    assert mixed == all_timeouts == all_wakes
    assert [i for i, _ in all_wakes] == [3, 6, 1, 4, 0, 2, 5]


def test_a_shared_callback_tuple_serves_every_wake_and_is_not_consumed() -> None:
    env = simpy.Environment()
    seen: list[int] = []
    cbs = (lambda w: seen.append(w.g), lambda w: seen.append(-w.g))
    wakes = [wake_after(env, 1.0, cbs, g) for g in (1, 2)]
    env.run()
    assert seen == [1, -1, 2, -2]
    assert cbs[0] is not None and len(cbs) == 2
    assert all(w.callbacks is None for w in wakes)  # processed, as simpy marks an event


def test_a_negative_delay_is_refused_as_a_timeout_refuses_it() -> None:
    env = simpy.Environment()
    with pytest.raises(ValueError):
        wake_after(env, -1e-9, (lambda w: None,), 0)
    with pytest.raises(ValueError):
        env.timeout(-1e-9)
