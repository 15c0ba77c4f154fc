"""Flow-level network model: flows, max-min fair sharing, and the simpy fabric.

The package sees links only as ids and capacities (numpy arrays); it never imports the
topology. See :class:`Fabric`, :func:`max_min_rates`, :class:`FlowSpec`, :class:`FlowRecord`.
"""

from simulator.network.fabric import Fabric
from simulator.network.flow import FlowRecord, FlowSpec
from simulator.network.maxmin import max_min_rates

__all__ = ["Fabric", "FlowRecord", "FlowSpec", "max_min_rates"]
