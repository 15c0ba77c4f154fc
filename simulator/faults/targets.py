"""Which links and nodes a fault names: by id, by endpoints, or by a pattern over node names.

``select_links(topology, "leaf3->spine*")`` returns the ids of every link from ``leaf3`` to a
node matching ``spine*`` (shell globs, :mod:`fnmatch`); ``a<->b`` (or ``a-b`` when neither name
holds a dash) selects both directions; an integer is a link id. A selector that matches nothing
is an :class:`~simulator.core.errors.InputError` naming the field and the selector.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from simulator.core.errors import InputError
from simulator.topology.model import NodeKind, Topology


def _split(selector: str) -> tuple[str, str, bool] | None:
    """``(a, b, both_directions)`` of an endpoint selector, None for a bare node pattern."""
    if "<->" in selector:
        a, _, b = selector.partition("<->")
        return a.strip(), b.strip(), True
    if "->" in selector:
        a, _, b = selector.partition("->")
        return a.strip(), b.strip(), False
    if selector.count("-") == 1:
        a, _, b = selector.partition("-")
        return a.strip(), b.strip(), True
    return None


def select_links(topology: Topology, selector: int | str, field: str) -> list[int]:
    """Link ids named by ``selector`` (see the module docstring), ascending.

    Raises:
        InputError: an id out of range, a malformed selector, or one that matches no link.
    """
    n = len(topology.links)
    if isinstance(selector, int):
        if not 0 <= selector < n:
            raise InputError(f"no link {selector} (ids are 0..{n - 1})", field=field)
        return [selector]
    parts = _split(str(selector))
    if parts is None or not parts[0] or not parts[1]:
        raise InputError(
            f"expected a link id, 'a->b', 'a<->b' or a pattern like 'leaf3->spine*', "
            f"got {selector!r}",
            field=field,
        )
    a, b, both = parts
    out = [
        lk.id
        for lk in topology.links
        if (fnmatchcase(lk.src, a) and fnmatchcase(lk.dst, b))
        or (both and fnmatchcase(lk.src, b) and fnmatchcase(lk.dst, a))
    ]
    if not out:
        raise InputError(f"no link of topology {topology.name} matches {selector!r}", field=field)
    return out


def select_nodes(
    topology: Topology, pattern: str, kinds: tuple[NodeKind, ...], field: str
) -> list[str]:
    """Nodes of ``kinds`` whose name matches ``pattern``, in graph order.

    Raises:
        InputError: nothing matches (the message says which kinds were looked for).
    """
    out = [
        str(v)
        for v, k in topology.graph.nodes(data="kind")
        if NodeKind(k) in kinds and fnmatchcase(str(v), pattern)
    ]
    if not out:
        what = " or ".join(k.value for k in kinds)
        raise InputError(
            f"no {what} node of topology {topology.name} matches {pattern!r}", field=field
        )
    return out


def node_links(topology: Topology, nodes: list[str]) -> list[int]:
    """Ids of every link into or out of ``nodes``, ascending."""
    names = set(nodes)
    return [lk.id for lk in topology.links if lk.src in names or lk.dst in names]


def format_ranks(ranks: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    out: list[str] = []
    rs = sorted(ranks)
    i = 0
    while i < len(rs):
        j = i
        while j + 1 < len(rs) and rs[j + 1] == rs[j] + 1:
            j += 1
        out.append(str(rs[i]) if i == j else f"{rs[i]}-{rs[j]}")
        i = j + 1
    return ",".join(out)
