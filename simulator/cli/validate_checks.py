"""Checks of ``commsim validate``'s rig flags made before any namespace is built.

``--steps 0``, ``--layers -1``, ``--timeout nan``, a ``--what-if`` topology that does not exist
or cannot be emulated, a fault case on a rank the rig does not have, an unknown ``--backend``:
each reached the rig (or the recorder, minutes later) unchecked. ``commsim record`` checks the
same values with :func:`simulator.cli.record_checks.check_record_args`; here they are checked
for every recording the ladder will make (:meth:`RecordConfig.validate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simulator.core.errors import InputError
from simulator.traces.recipe_limits import check_timeout


def check_rig_args(
    args: Any, topology: str, world: int, strategies: Sequence[str], tiers: Sequence[Any],
    fault_ranks: Sequence[int],
) -> None:  # fmt: skip
    """Raise :class:`InputError` naming the flag the rig ladder cannot run with."""
    for flag, value, low in (
        ("--steps", args.steps, 1),
        ("--warmup", args.warmup, 0),
        ("--layers", args.layers, 1),
        ("--d-model", args.d_model, 1),
        ("--batch", args.batch, 1),
    ):
        if value is not None and value < low:
            raise InputError(f"must be >= {low}, got {value}", field=flag)
    check_timeout(float(args.timeout))
    if not tiers:
        raise InputError("no tier given", field="--tiers")
    for rank in fault_ranks:
        if not 0 <= rank < world:
            raise InputError(f"rank {rank} out of range 0..{world - 1}", field="--faults")
    _check_rig_topology(topology, "--topology")
    if args.what_if is not None:
        targets = [t.strip() for t in args.what_if.split(",") if t.strip()]
        if not targets:
            raise InputError("no topology given", field="--what-if")
        for t in targets:
            _check_rig_topology(t, "--what-if")
            _check_same_hosts(t, topology, world)
    if args.backend:
        from simulator.collectives import load_backend

        try:
            load_backend(args.backend)
        except InputError as err:
            raise InputError(err.message, file=err.file, field=err.field or "--backend") from None


def _check_same_hosts(target: str, topology: str, world: int) -> None:
    """A tier-2 what-if replays ``topology``'s ranks on ``target``: both need ``world`` hosts."""
    from simulator.topology import load_topology

    hosts = load_topology(target).num_ranks
    if hosts != world:
        raise InputError(
            f"{target} has {hosts} hosts but {topology} has {world}; a what-if topology "
            "must have the same number of hosts",
            field="--what-if",
        )


def _check_rig_topology(name: str, flag: str) -> None:
    from simulator.rig.cluster import plan_rig

    try:
        plan_rig(name)
    except InputError as err:
        where = f"{err.file}: " if err.file else ""
        raise InputError(f"{where}{err.message}", field=flag) from None
