"""Which algorithm implements which collective, found by name.

Every :class:`~simulator.core.vocab.Algorithm` (but ``auto``) is implemented by the module
``simulator.collectives.<value>``, which defines

* a schedule builder named like the module (``ring.ring``; see :class:`Builder`), and
* ``IMPLEMENTS``: the frozenset of :class:`~simulator.core.vocab.CollectiveOp` it builds.

So adding an algorithm touches two files: its name in ``core/vocab.py`` and its module (plus a
backend profile's ``algorithms:`` list if ``auto`` should consider it). An enum member without
its module fails at import, naming the module.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Protocol, cast

from simulator.collectives.schedule import Schedule
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp


class Builder(Protocol):
    """Builds the schedule of one collective (pure; see :mod:`simulator.collectives.schedule`)."""

    def __call__(
        self,
        op: CollectiveOp,
        group: Sequence[int],
        hosts: Sequence[str],
        size_B: float,
        *,
        channels: int = ...,
        root: int = ...,
    ) -> Schedule: ...


def _implementation(algo: Algorithm) -> tuple[Builder, frozenset[CollectiveOp]]:
    """The builder and the ops of ``algo``, from its module (see the module docstring)."""
    name = f"simulator.collectives.{algo.value}"
    module = importlib.import_module(name)
    builder = getattr(module, algo.value, None)
    ops = getattr(module, "IMPLEMENTS", None)
    if not callable(builder) or not isinstance(ops, frozenset):
        raise ImportError(f"{name} must define {algo.value}() and IMPLEMENTS (a frozenset of ops)")
    return cast(Builder, builder), frozenset(CollectiveOp(o) for o in ops)


#: algorithm -> (builder, the ops it implements)
ALGORITHMS: dict[Algorithm, tuple[Builder, frozenset[CollectiveOp]]] = {
    a: _implementation(a) for a in Algorithm if a is not Algorithm.AUTO
}


def supports(algo: Algorithm, op: CollectiveOp) -> bool:
    """Whether ``algo`` implements ``op``."""
    return algo in ALGORITHMS and op in ALGORITHMS[algo][1]


def build_schedule(
    algo: Algorithm,
    op: CollectiveOp,
    group: Sequence[int],
    hosts: Sequence[str],
    size_B: float,
    *,
    channels: int = 1,
    root: int = 0,
) -> Schedule:
    """The schedule of ``op`` by ``algo``; :class:`InputError` if ``algo`` cannot do ``op``."""
    if algo is Algorithm.AUTO:
        raise ValueError("resolve 'auto' with a backend profile before building a schedule")
    if not supports(algo, op):
        ok = ", ".join(a.value for a in ALGORITHMS if supports(a, op))
        raise InputError(f"{algo.value} does not implement {op.value} (use {ok})", field="algo")
    if size_B < 0:
        raise InputError(f"size must be >= 0 bytes, got {size_B}", field="size")
    if not 0 <= root < len(group):
        raise InputError(f"root {root} is not a group index (0..{len(group) - 1})", field="root")
    builder = ALGORITHMS[algo][0]
    return builder(op, group, hosts, float(size_B), channels=channels, root=root)
