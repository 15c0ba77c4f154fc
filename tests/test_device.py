"""The emulated accelerator's queue: order, durations, synchronisation (no torch, no root).

A virtual clock (its ``sleep`` advances it) makes every duration exact, so no test depends
on the machine's timing.
"""

from __future__ import annotations

import threading

import pytest

from simulator.traces.device import EmulatedDevice


class VirtualClock:
    """Seconds that pass only when the device sleeps (or a test advances them)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.lock = threading.Lock()

    def now(self) -> float:
        with self.lock:
            return self.t

    def sleep(self, dt: float) -> None:
        with self.lock:
            self.t += dt


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def test_items_run_in_order_back_to_back(clock: VirtualClock) -> None:
    dev = EmulatedDevice(clock.now, clock.sleep)
    evs = [dev.enqueue(d, f"k{i}") for i, d in enumerate((0.1, 0.2, 0.3))]
    dev.synchronize()
    assert [lab for lab, _, _ in dev.log] == ["k0", "k1", "k2"]
    assert [e.end_s for e in evs] == pytest.approx([0.1, 0.3, 0.6])
    assert [e.start_s for e in evs] == pytest.approx([0.0, 0.1, 0.3])
    assert dev.late_s == pytest.approx([0.0, 0.0, 0.0])
    dev.close()


def test_enqueue_returns_before_the_item_has_run() -> None:
    gate = threading.Event()
    t = [0.0]

    def sleep(dt: float) -> None:  # the device blocks here until the test lets it go
        gate.wait()
        t[0] += dt

    dev = EmulatedDevice(lambda: t[0], sleep)
    ev = dev.enqueue(1.0, "kernel")
    assert not ev.done
    assert not ev.wait(timeout_s=0.05)  # the host can still run: the device holds the item
    gate.set()
    assert ev.wait(timeout_s=5.0)
    assert ev.end_s == pytest.approx(1.0)
    dev.close()


def test_waiting_on_an_event_does_not_wait_for_later_items() -> None:
    gate = threading.Event()
    t = [0.0]
    calls = []

    def sleep(dt: float) -> None:
        calls.append(dt)
        if len(calls) > 1:  # the second item blocks until released
            gate.wait()
        t[0] += dt

    dev = EmulatedDevice(lambda: t[0], sleep)
    first = dev.enqueue(0.5, "a")
    second = dev.enqueue(0.5, "b")
    assert first.wait(timeout_s=5.0)
    assert not second.done
    gate.set()
    dev.synchronize()
    assert second.done and second.end_s == pytest.approx(1.0)
    dev.close()


def test_synchronize_waits_for_the_tail(clock: VirtualClock) -> None:
    dev = EmulatedDevice(clock.now, clock.sleep)
    evs = [dev.enqueue(0.01 * (i + 1)) for i in range(20)]
    dev.synchronize()
    assert all(e.done for e in evs)
    assert evs[-1].end_s == pytest.approx(sum(0.01 * (i + 1) for i in range(20)))
    dev.close()


def test_an_idle_device_starts_an_item_when_it_is_enqueued(clock: VirtualClock) -> None:
    dev = EmulatedDevice(clock.now, clock.sleep)
    dev.enqueue(0.1).wait()
    clock.sleep(5.0)  # the host works 5 s while the device is idle
    ev = dev.enqueue(0.2)
    ev.wait()
    assert (ev.start_s, ev.end_s) == pytest.approx((5.1, 5.3))
    dev.close()


def test_synchronize_on_an_empty_device_returns(clock: VirtualClock) -> None:
    dev = EmulatedDevice(clock.now, clock.sleep)
    dev.synchronize()
    assert dev.tail() is None
    dev.close()


def test_bad_durations_and_a_closed_device_are_refused(clock: VirtualClock) -> None:
    dev = EmulatedDevice(clock.now, clock.sleep)
    with pytest.raises(ValueError, match="duration_s"):
        dev.enqueue(-1.0)
    last = dev.enqueue(0.3)
    dev.close()  # finishes what is queued
    assert last.done
    with pytest.raises(ValueError, match="closed"):
        dev.enqueue(0.1)


def test_real_clock_items_last_at_least_their_duration() -> None:
    dev = EmulatedDevice()
    ev = dev.enqueue(0.002, "real")
    ev.wait()
    assert ev.end_s is not None and ev.start_s is not None
    assert ev.end_s - ev.start_s >= 0.002
    dev.close()
