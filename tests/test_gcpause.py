"""``paused_gc`` switches the cyclic collector off for a block and restores its state."""

from __future__ import annotations

import gc

import pytest

from simulator.core.gcpause import paused_gc


def test_paused_then_restored_also_on_error_and_when_nested() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_an_already_disabled_collector_stays_off() -> None:
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cycles_made_while_paused_are_collected_after() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    with paused_gc():
        Node()  # a cycle: only the collector frees it
    assert gc.collect() >= 1
