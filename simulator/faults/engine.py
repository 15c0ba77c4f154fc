"""The engine's side of a network that changes during the step (a simpy process).

At each change time of :class:`~simulator.faults.network.NetworkFaults` the process

1. hands the runner the topology now in force, so collectives and transfers launched from now on
   are planned on its routes, capacities and latencies;
2. sets the fabric's capacity of every link whose capacity changed (flows crossing them get new
   max-min rates from this instant);
3. re-routes every flow in flight that crosses a link now down onto the new route between its
   ranks (:meth:`simulator.network.Fabric.reroute`): it keeps the bytes it has left.

Transfers of a collective that were planned before the change but start after it are re-routed
the same way when they start (the fabric's ``rewrite`` hook). The process ends at the first
change after the last op finished.

Every change costs a new max-min solution for the flows crossing the changed links, so a
short on/off ``background`` over a long step is refused past
:data:`simulator.limits.MAX_RATE_SWITCHES` changes (:func:`simulator.limits.check_rate_switches`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

from simulator import limits
from simulator.network.flow import FlowSpec


def network_changes(runner: Any, network: Any) -> Generator[Any, Any, None]:
    """simpy process applying ``network``'s changes to ``runner`` (an engine ``_Runner``)."""
    env, fabric = runner.env, runner.transport.fabric
    current = network.at(0.0)
    switches = 0
    while True:
        t = network.next_change(env.now)
        if not np.isfinite(t):
            return
        yield env.timeout(t - env.now)
        if runner.left == 0:
            return
        switches += 1
        if switches > limits.MAX_RATE_SWITCHES:
            limits.check_rate_switches(switches, env.now, network.fastest_source())
        new = network.at(env.now)
        if new is current:
            continue
        changed = np.flatnonzero(new.capacity_Bps != current.capacity_Bps)
        if changed.size:
            fabric.set_capacity(changed.tolist(), new.capacity_Bps[changed].tolist())
        down = set(getattr(new, "down", frozenset())) - set(getattr(current, "down", frozenset()))
        runner.ctx.switch(new)
        if down:
            fabric.reroute(down, _new_path(new))
        fabric.rewrite = _rewriter(new) if getattr(new, "down", None) else None
        current = new


def _new_path(topology: Any) -> Any:
    def path(spec: FlowSpec) -> tuple[int, ...]:
        if spec.src < 0 or spec.dst < 0:
            raise ValueError(f"flow {spec.tag!r} crosses a link that went down and has no ranks")
        return tuple(topology.route(spec.src, spec.dst))

    return path


def _rewriter(topology: Any) -> Any:
    down = topology.down
    path = _new_path(topology)

    def rewrite(spec: FlowSpec) -> FlowSpec:
        if down.isdisjoint(spec.links):
            return spec
        return FlowSpec(
            path(spec), spec.size_B, spec.latency_s, spec.max_rate_Bps, spec.tag, spec.src, spec.dst
        )

    return rewrite
