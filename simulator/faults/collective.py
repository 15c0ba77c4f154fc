"""Faults for ``commsim collective``: the topology a collective alone runs on."""

from __future__ import annotations

from simulator.core.errors import InputError
from simulator.faults.inputs import load_faults
from simulator.faults.network import apply_network_faults
from simulator.topology.model import Topology


def faulted_topology(topology: Topology, text: str, ranks: list[int] | None) -> Topology:
    """``topology`` with the network faults of ``--faults`` applied from the start.

    Raises:
        InputError: compute faults (a collective has no compute), faults in time (a lone
            collective has no step clock to place them on), or any fault error.
    """
    faults = load_faults(text)
    if faults.compute:
        raise InputError("a collective alone has no compute to perturb", field="--faults")
    job = list(range(topology.num_ranks)) if ranks is None else ranks
    for r in job:
        if not 0 <= r < topology.num_ranks:
            raise InputError(f"rank {r} out of range 0..{topology.num_ranks - 1}", field="--ranks")
    net = apply_network_faults(topology, faults, job)
    if net is None:
        return topology
    if net.changes:
        raise InputError(
            "faults at a time (at:, on/off) need a step: use commsim run", field="--faults"
        )
    return net.at(0.0)
