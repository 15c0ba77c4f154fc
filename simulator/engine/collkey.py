"""The key of a distinct collective, and the signature that tells launches of traffic apart.

:func:`coll_key` names a collective run on one group (its own or a mirror) by what decides its
transfers: ``(op, group in order, size_B, algo, root)``. Isolation
(:mod:`simulator.engine.isolation`), symmetry (:mod:`simulator.engine.symmetry`) and the runner
all need it for the same ops; :func:`~simulator.engine.streams.build_plan` computes it once per
op (:attr:`~simulator.engine.streams.Plan.own_key`).

:func:`launch_signature` is what an op contributes to the traffic classes of isolation and
symmetry: two ops with equal signatures launch the same traffic (same groups or pairs, same
sizes, algorithm and root, from the same stream of the same rank), so a pass that only takes
unions of sets of that traffic may read the first one and skip the rest
(:attr:`~simulator.engine.streams.Plan.traffic`).
"""

from __future__ import annotations

from collections.abc import Hashable

from simulator.core.ir import AnyOp, Collective, Recv, Send

#: Key of a distinct collective: ``(op, group in order, size_B, algo, root)``.
CollKey = tuple[str, tuple[int, ...], float, str, int]


def coll_key(op: Collective, group: tuple[int, ...]) -> CollKey:
    """The distinct-collective key of ``op`` run on ``group`` (its own group or a mirror)."""
    return (op.op.value, group, float(op.size_B), str(op.algo), int(op.root))


def launch_signature(op: AnyOp, stream: int) -> Hashable | None:
    """What op ``op``, on stream index ``stream`` (a stream of one rank), launches on the
    network: equal signatures launch equal traffic. ``None`` for a compute op."""
    if isinstance(op, Collective):
        return (0, op.op, op.group, op.size_B, op.algo, op.root, op.mirrors, stream)
    if isinstance(op, Send):
        return (1, op.peer, op.mirrors, stream)
    if isinstance(op, Recv):
        return (2, op.peer, stream)
    return None
