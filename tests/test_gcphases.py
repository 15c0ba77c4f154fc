"""simulator.core.gcphases: fewer collections inside a command, Python's defaults outside."""

from __future__ import annotations

import gc
import weakref

from simulator.core.gcphases import GEN0_THRESHOLD, active, checkpoint, few_collections


def test_checkpoint_outside_does_nothing() -> None:
    before = gc.get_freeze_count()
    checkpoint()
    assert gc.get_freeze_count() == before
    assert not active()


def test_inside_freezes_and_exit_restores() -> None:
    gc.unfreeze()
    old = gc.get_threshold()
    kept = [object() for _ in range(10)]
    with few_collections():
        assert active()
        assert gc.get_threshold()[0] == max(GEN0_THRESHOLD, old[0])
        assert gc.get_threshold()[1:] == old[1:]
        checkpoint()
        assert gc.get_freeze_count() > 0
    assert not active()
    assert gc.get_threshold() == old
    assert gc.get_freeze_count() == 0
    assert kept


def test_nested_blocks_share_the_outer_settings() -> None:
    gc.unfreeze()
    old = gc.get_threshold()
    with few_collections(gen0=20_000):
        with few_collections(gen0=30_000):
            assert gc.get_threshold()[0] == max(20_000, old[0])
            checkpoint()
        assert active()  # the inner exit does not end the outer block
        assert gc.get_freeze_count() > 0  # nor unfreeze what the outer block froze
    assert gc.get_threshold() == old
    assert gc.get_freeze_count() == 0


def test_objects_frozen_elsewhere_stay_frozen() -> None:
    gc.unfreeze()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with few_collections():
            checkpoint()
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()


def test_cycle_frozen_inside_is_collected_after_the_block() -> None:
    gc.unfreeze()

    class Node:
        other: object = None

    with few_collections():
        a, b = Node(), Node()
        a.other, b.other = b, a
        ref = weakref.ref(a)
        checkpoint()  # the cycle is alive here, so frozen
        del a, b
        gc.collect()
        assert ref() is not None  # frozen: collections skip it
    gc.collect()
    assert ref() is None  # handed back on exit: collected
