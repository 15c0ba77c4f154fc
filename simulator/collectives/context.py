"""The per-simulation state of the collectives: one :class:`SimContext` per simulation.

It owns what used to be module-level caches: the :class:`~simulator.collectives.flows.FlowPlanner`
(routes and their wire factors) and the resolved collectives (:class:`Choice`). Nothing is
shared between simulations, and nothing outlives a routing change: the context notes the
topology's :attr:`~simulator.topology.Topology.routing_epoch` and drops its routes and choices
when :meth:`~simulator.topology.Topology.set_ecmp` changes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from simulator.collectives.backend import BackendProfile, load_backend
from simulator.collectives.choice import Choice, candidate_routes, check_group, resolve
from simulator.collectives.flows import FlowPlanner
from simulator.core.errors import InputError
from simulator.core.vocab import Algorithm, CollectiveOp, coerce
from simulator.topology import Topology
from simulator.topology.linkclass import LinkClasses, link_classes

#: Key of a resolved collective: ``(op, group, size_B, algorithm asked, channels, root)``.
ChoiceKey = tuple[CollectiveOp, tuple[int, ...], float, Algorithm, int | None, int]


class SimContext:
    """Topology, backend profile, flow planner and resolved collectives of one simulation.

    Args:
        topology: the topology simulated.
        backend: a loaded profile, or a name/path for :func:`load_backend` (read now).
        ranks: ranks of the job, for a calibrated family's per-rank-count profile
            (:mod:`simulator.collectives.calibrated`).
    """

    def __init__(
        self, topology: Topology, backend: BackendProfile | str, *, ranks: int | None = None
    ) -> None:
        self.topology = topology
        self.profile = load_backend(backend, ranks=ranks)
        self._epoch = topology.routing_epoch
        self._planner: FlowPlanner | None = None
        self._choices: dict[ChoiceKey, Choice] = {}
        self._link_classes: LinkClasses | None = None

    def switch(self, topology: Topology) -> None:
        """From now on plan on ``topology`` (same links and ranks; e.g. a fault in the step):
        drops the planner and every resolved collective."""
        self.topology = topology
        self._epoch = topology.routing_epoch
        self._planner = None
        self._choices.clear()

    def _fresh(self) -> None:
        if self.topology.routing_epoch != self._epoch:  # routes changed: nothing cached holds
            self._epoch = self.topology.routing_epoch
            self._planner = None
            self._choices.clear()

    @property
    def planner(self) -> FlowPlanner:
        """The flow planner of ``(topology, profile)`` (routes cached until routing changes)."""
        self._fresh()
        if self._planner is None:
            self._planner = FlowPlanner(self.topology, self.profile)
        return self._planner

    @property
    def link_classes(self) -> LinkClasses:
        """The topology's link classes and tiers (built once; routing does not change them)."""
        if self._link_classes is None:
            self._link_classes = link_classes(self.topology)
        return self._link_classes

    def choose(
        self,
        op: CollectiveOp | str,
        group: Sequence[int],
        size_B: float,
        algo: Algorithm | str = Algorithm.AUTO,
        *,
        channels: int | None = None,
        root: int = 0,
    ) -> Choice:
        """The resolved collective (see :func:`~simulator.collectives.choice.resolve`), cached.

        Raises :class:`~simulator.core.errors.InputError` for an unknown op or algorithm, a
        rank out of range, or an algorithm that cannot run ``op`` on ``group``.
        """
        op = coerce(CollectiveOp, op, field="op")
        want = coerce(Algorithm, algo, field="algo")
        planner = self.planner  # first: drops stale choices
        # a group equal to one resolved before was checked then (an invalid one is never kept)
        key: ChoiceKey = (op, tuple(group), float(size_B), want, channels, root)
        hit = self._choices.get(key)
        if hit is None:
            g = check_group(self.topology, group)
            key = (op, g, float(size_B), want, channels, root)
            hit = self._choices.get(key)
            if hit is None:
                hit = self._choices[key] = resolve(planner, op, g, size_B, want, channels, root)
        return hit

    def route_ahead(
        self, collectives: Iterable[tuple[CollectiveOp | str, Sequence[int], float, str, int]]
    ) -> None:
        """Route, in one batch, the transfers of every candidate of every collective
        ``(op, group, size_B, algo, root)`` of at most :data:`AHEAD_MAX_RANKS` ranks, before
        they are resolved one by one (:meth:`choose`, which then finds its routes cached).
        The same routes and choices as without; fewer, larger routing batches."""
        planner = self.planner
        todo: set[tuple[int, int, int]] = set()
        for op, group, size_B, algo, root in collectives:
            if len(group) > AHEAD_MAX_RANKS:
                continue
            try:
                o, a = coerce(CollectiveOp, op, field="op"), coerce(Algorithm, algo, field="algo")
                g = check_group(self.topology, group)
            except InputError:
                continue  # choose raises it, where the collective is resolved
            todo |= candidate_routes(planner, o, g, float(size_B), a, None, root)
        planner.route_ahead(todo)


#: Largest group whose candidates :meth:`SimContext.route_ahead` routes ahead: above it a
#: candidate the resolver's bound rules out (a ring of thousands of ranks) could cost more to
#: route than routing on demand saves.
AHEAD_MAX_RANKS = 64


def choose(
    topology: Topology,
    op: CollectiveOp | str,
    group: Sequence[int],
    size_B: float,
    algo: Algorithm | str,
    profile: BackendProfile | str,
    *,
    channels: int | None = None,
    root: int = 0,
) -> Choice:
    """One collective resolved on a fresh :class:`SimContext` (nothing cached across calls)."""
    return SimContext(topology, profile).choose(
        op, group, size_B, algo, channels=channels, root=root
    )
