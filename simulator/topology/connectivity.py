"""Load-time check that every rank of a topology can reach every other rank.

A disconnected topology used to load silently and fail later, inside a simulation, with
``ValueError: no route``. :func:`check_connected` refuses it at load time, naming the isolated
rank node (or, when the ranks fall into several groups, the groups: the cut).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from simulator.core.errors import InputError
from simulator.topology.model import Topology


def _show(nodes: list[str], k: int = 4) -> str:
    head = ", ".join(nodes[:k])
    return head + (f" and {len(nodes) - k} more" if len(nodes) > k else "")


def component_roots(
    num_nodes: int, u: npt.NDArray[np.int64], v: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Per node, the smallest node index of its connected component, the edges ``u[i] - v[i]``
    taken undirected (min-label hooking with pointer jumping, numpy; exact, not sampled).

    Each round hooks the larger of an edge's two roots under the smaller, then jumps every
    node to its root; labels only ever move along edges, so two nodes share a root exactly
    when a path joins them, and the rounds stop once every edge joins equal roots.
    """
    parent = np.arange(num_nodes, dtype=np.int64)
    while True:
        pu, pv = parent[u], parent[v]
        if np.array_equal(pu, pv):
            return parent
        np.minimum.at(parent, np.maximum(pu, pv), np.minimum(pu, pv))
        while True:
            up = parent[parent]
            if np.array_equal(up, parent):
                break
            parent = up


def _ranks_connected(topology: Topology) -> bool:
    """True when every rank node lies in one connected component (numpy, over the links)."""
    index = {n: i for i, n in enumerate(topology.node_table)}
    u = np.array([index[lk.src] for lk in topology.links], dtype=np.int64)
    v = np.array([index[lk.dst] for lk in topology.links], dtype=np.int64)
    roots = component_roots(len(index), u, v)
    ranks = roots[[index[r] for r in topology.ranks]]
    return bool((ranks == ranks[0]).all())


def check_connected(topology: Topology, file: str) -> None:
    """Raise :class:`InputError` when the rank nodes of ``topology`` are not all connected.

    Links are full duplex, so connectivity is that of the undirected graph (a directed link
    with no way back would be refused by routing too, naming its pair).
    """
    ranks = list(topology.ranks)
    if len(ranks) < 2 or _ranks_connected(topology):
        return  # the common case, found with numpy; a cut is described from networkx below
    import networkx as nx  # only for the error (start-up time: docs/decisions.md 2026-12-05)

    graph = topology.graph.to_undirected(as_view=True)
    components = [c for c in nx.connected_components(graph) if any(r in c for r in ranks)]
    if len(components) <= 1:
        return
    order = {r: i for i, r in enumerate(ranks)}
    groups = sorted(
        ([r for r in ranks if r in c] for c in components), key=lambda g: (len(g), order[g[0]])
    )
    smallest = groups[0]
    if len(smallest) == 1:
        msg = (
            f"rank node {smallest[0]!r} is not connected to the other ranks "
            f"({len(groups)} disconnected groups); add a link to it"
        )
    else:
        shown = "; ".join(f"{{{_show(g)}}}" for g in groups[:3])
        msg = (
            f"the ranks fall into {len(groups)} disconnected groups ({shown}); "
            "add links between them"
        )
    raise InputError(msg, file=file, field="links")


def check_plain_data(value: object, file: str, field: str) -> None:
    """Refuse free-form data (``metadata:``) that JSON output could not hold: a NaN or an
    infinity, or a key that is not a string or a number."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"expected a finite number, got {value!r}", file=file, field=field)
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str | int | float | bool) or k is None:
                raise InputError(f"key {k!r} must be a string", file=file, field=field)
            check_plain_data(v, file, f"{field}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_plain_data(v, file, f"{field}[{i}]")
