"""Chakra ET files written by other tools, read with Chakra's own semantics.

What Chakra's feeder (``mlcommons/chakra`` ``src/feeder``) and ASTRA-sim's ``Workload`` do,
and what commsim does with each:

* **Order**: a node is ready when its ``data_deps`` are done, whatever the file order.
  ``ctrl_deps`` are not ordering: Chakra's PyTorch converter puts the parent host op there.
  Nodes are sorted topologically by ``data_deps`` (a cycle is refused).
* **Parents**: a CPU node whose ``ctrl_deps`` parent is another CPU node of the file is nested
  in it (``aten::linear`` > ``aten::addmm``); the parent's ``duration_micros`` already holds
  it, so the child runs in zero time (counted in ``roles['nested-cpu-op']``).
* **Resources**: ASTRA-sim's ``HardwareResource`` runs one CPU op, one GPU compute op and one
  GPU communication op (collective or send) at a time; receives do not occupy it. commsim puts
  CPU nodes on stream ``cpu``, GPU compute on ``compute``, collectives on ``comm``, and each
  send and each receive on a stream of its own (a send does not hold ``comm`` here: the one
  known difference from ASTRA-sim's resource model).
* **CPU-side ``COMM_COLL_NODE``s** (``is_cpu_op`` true: the converter's
  ``c10d::allreduce_`` host ops) are launches, not collectives; they run as zero-length CPU
  nodes (``skipped['chakra-cpu-comm-node']``). The GPU node is the collective; one without
  ``comm_type``, or without ``comm_size`` (but a barrier), is refused naming the node (until
  2026-12-06 a GPU node without ``comm_type`` was taken as a launch and its collective lost).
* **Groups**: a collective's ``pg_name`` names a process group of the ``process_group:init``
  metadata node (its ``inputs.values``: a list of ``{pg_name, ranks, ...}``, read as
  ASTRA-sim's ``issue_pytorch_pg_metadata`` reads it; empty ranks mean every rank); without
  one, the group is the world.
* **Send/recv**: ASTRA-sim's sends do not wait for the receiver. A send here is issued on a
  stream of its own and its dependents wait only for it to be issued (a zero-length marker
  with the send's deps); the receive completes when the data arrives.
"""

from __future__ import annotations

import ast
import heapq
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from simulator.core.errors import InputError, clipped
from simulator.core.ir import Program
from simulator.core.vocab import CollectiveOp
from simulator.traces.chakra.schema import COLL_TYPES
from simulator.traces.chakra.sizes import ir_size_B
from simulator.traces.jsonfile import read_json_file

COMP, SEND, RECV, COLL, METADATA = 4, 5, 6, 7, 1
_CODE_COLL = {
    0: CollectiveOp.ALL_REDUCE,
    1: CollectiveOp.REDUCE,
    2: CollectiveOp.ALL_GATHER,
    5: CollectiveOp.BROADCAST,
    6: CollectiveOp.ALL_TO_ALL,
    7: CollectiveOp.REDUCE_SCATTER,
    8: CollectiveOp.REDUCE_SCATTER,
    9: CollectiveOp.BARRIER,
}


def attrs(node: Any) -> dict[str, Any]:
    """A node's attributes by name (list values as lists)."""
    out: dict[str, Any] = {}
    for a in node.attr:
        which = a.WhichOneof("value")
        if which is None:
            continue
        v = getattr(a, which)
        out[a.name] = list(v.values) if which.endswith("_list") else v
    return out


def data_order(nodes: list[Any], path: str, roles: Counter[str]) -> list[Any]:
    """Nodes in an order where every ``data_deps`` comes first (file order among equals).

    Raises:
        InputError: two nodes share an id, or the data dependencies form a cycle.
    """
    pos: dict[int, int] = {}
    for i, n in enumerate(nodes):
        if n.id in pos:
            raise InputError(
                f"node id {n.id} is given to two nodes: expected distinct ids", file=path
            )
        pos[n.id] = i
    indeg = [0] * len(nodes)
    users: list[list[int]] = [[] for _ in nodes]
    for i, n in enumerate(nodes):
        for d in set(n.data_deps):
            j = pos.get(d)
            if j is None:
                roles["dangling-data-dep"] += 1
                continue
            indeg[i] += 1
            users[j].append(i)
    ready = [i for i, k in enumerate(indeg) if k == 0]
    heapq.heapify(ready)
    out: list[Any] = []
    while ready:
        i = heapq.heappop(ready)
        out.append(nodes[i])
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, u)
    if len(out) != len(nodes):
        stuck = next(nodes[i].id for i, k in enumerate(indeg) if k > 0)
        raise InputError(f"data_deps form a cycle (through node {stuck})", file=path)
    return out


def process_groups(nodes: list[Any], path: str) -> dict[str, tuple[int, ...]]:
    """``pg_name`` -> ranks from the ``process_group:init`` metadata node (empty: world)."""
    out: dict[str, tuple[int, ...]] = {}
    for n in nodes:
        if n.name != "process_group:init":
            continue
        raw = n.inputs.values if n.HasField("inputs") else ""
        items: Any = None
        for parse in (lambda s: json.loads(s[2:-2]), json.loads, ast.literal_eval):
            try:
                items = parse(raw)
                break
            except (ValueError, SyntaxError):
                continue
        if isinstance(items, list) and items and isinstance(items[0], str):
            items = json.loads(items[0])
        if not isinstance(items, list):
            raise InputError(
                "process_group:init: inputs.values is not a list of process groups",
                file=path,
                field=f"node {n.id}",
            )
        for pg in items:
            if isinstance(pg, dict) and "pg_name" in pg:
                out[str(pg["pg_name"])] = tuple(int(r) for r in pg.get("ranks") or [])
    return out


def comm_groups_file(directory: Path, world: int) -> dict[str, tuple[int, ...]]:
    """ASTRA-sim's ``--comm-group-configuration`` file beside the ETs (``comm_group.json``:
    ``{"<pg_name>": [npu, ...], ...}``), or {} when there is none; ``world``: the job's ranks.

    Raises:
        InputError: the path is not a file, or not an object of distinct integer lists with
            distinct keys, or a group names a rank past the world (names the file and key).
    """
    p = directory / "comm_group.json"
    if not p.exists():
        return {}
    if not p.is_file():
        raise InputError("expected a JSON file, got a directory or special file", file=str(p))
    repeated: list[str] = []  # keys JSON would keep the last of silently, in file order
    doc = read_json_file(
        p, what="ASTRA-sim comm-group configuration", pairs_hook=_pairs_noting(repeated)
    )
    if not isinstance(doc, dict):
        raise InputError('expected {"<pg_name>": [ranks...], ...}', file=str(p))
    if repeated:
        raise InputError(
            "pg_name given twice: expected each group once", file=str(p), field=repeated[0]
        )
    return {str(k): _group_ranks(v, p, str(k), world) for k, v in doc.items()}


def _pairs_noting(repeated: list[str]) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A JSON ``object_pairs_hook`` that builds each object as ``json`` does and appends to
    ``repeated`` every key an object gives twice."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for k, _ in items:
            if k in seen:
                repeated.append(k)
            seen.add(k)
        return dict(items)

    return pairs


def _group_ranks(v: Any, p: Path, key: str, world: int) -> tuple[int, ...]:
    """One group's ranks: a non-empty list of distinct integers in ``[0, world)``."""
    ok = isinstance(v, list) and all(
        isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v
    )
    if not ok or not v:
        raise InputError(
            "expected a list of ranks (integers >= 0, at least one)", file=str(p), field=key
        )
    twice = sorted(r for r, k in Counter(v).items() if k > 1)
    if twice:
        raise InputError(
            f"rank {twice[0]} listed twice: expected distinct ranks", file=str(p), field=key
        )
    if max(v) >= world:
        raise InputError(
            f"rank {max(v)} is past the job's {world} ranks: expected ranks 0..{world - 1}",
            file=str(p),
            field=key,
        )
    return tuple(v)


def foreign_program(
    rank: int,
    nodes: list[Any],
    world: int,
    path: str,
    roles: Counter[str],
    groups: dict[str, tuple[int, ...]] | None = None,
) -> Program:
    """A Program from a Chakra file written by another tool (see the module docstring);
    ``groups``: ASTRA-sim's comm-group configuration (:func:`comm_groups_file`), which names
    process groups as the ``process_group:init`` node does (and wins where both name one).

    Raises:
        InputError: a cycle, or a collective type commsim does not model.
    """
    prog = Program(rank=rank)
    cpu = {n.id: bool(attrs(n).get("is_cpu_op", False)) for n in nodes}
    pgs = {**process_groups(nodes, path), **(groups or {})}
    id_map: dict[int, int] = {}
    for n in data_order(nodes, path, roles):
        a = attrs(n)
        deps = sorted({id_map[d] for d in n.data_deps if d in id_map})
        common: dict[str, Any] = {"name": n.name or f"node{n.id}", "deps": deps}
        if n.type == COLL and not cpu[n.id]:
            id_map[n.id] = _collective(prog, n, a, (world, pgs, roles), path, common)
            roles["collective"] += 1
        elif n.type in (SEND, RECV):
            id_map[n.id] = _p2p(prog, n, a, (world, path), common)
            roles["send" if n.type == SEND else "recv"] += 1
        else:
            id_map[n.id] = _compute(prog, n, a, cpu, roles, common)
    return prog


def _collective(
    prog: Program,
    n: Any,
    a: dict[str, Any],
    job: tuple[int, dict[str, tuple[int, ...]], Counter[str]],
    path: str,
    common: dict[str, Any],
) -> int:
    """A GPU ``COMM_COLL_NODE``: its group from ``pg_name``, else the world.

    Raises:
        InputError: no ``comm_type``, or no ``comm_size`` (>= 0) on a collective that moves data
            (the feeder would run it with whatever its memory held; Chakra's JSON test trace
            ``chakra.0.json`` has neither on its 7 NCCL kernels).
    """
    code = _int_attr(n, a, "comm_type", path, expected="the collective's type (CollectiveCommType)")
    if code not in _CODE_COLL:
        name = COLL_TYPES[code] if 0 <= code < len(COLL_TYPES) else f"number {code}"
        raise InputError(
            f"collective type {name} is not modelled (expected one of "
            f"{', '.join(COLL_TYPES[c] for c in sorted(_CODE_COLL))})",
            file=path,
            field=f"node {n.id}.comm_type",
        )
    if _CODE_COLL[code] is not CollectiveOp.BARRIER:
        _int_attr(n, a, "comm_size", path, expected="the collective's size in bytes (>= 0)")
    world, pgs, roles = job
    group = _group(n, a, (prog.rank, world), pgs, path, roles)
    return prog.collective(
        op=_CODE_COLL[code],
        group=group,
        size_B=ir_size_B(_CODE_COLL[code], float(a.get("comm_size", 0)), len(group)),
        stream="comm",
        category="comm",
        **common,
    )


def _group(
    n: Any,
    a: dict[str, Any],
    where: tuple[int, int],
    pgs: dict[str, tuple[int, ...]],
    path: str,
    roles: Counter[str],
) -> tuple[int, ...]:
    """The ranks of a collective: its ``pg_name``'s group, else the world.

    A ``pg_name`` no group lists is counted (``roles['pg-name-unknown']``, said in a warning)
    and runs on the world. ``involved_dim`` (ASTRA-sim: which network dimensions the
    collective spans) with a dimension left out names ranks only ASTRA-sim's network file
    knows, so it is refused unless a ``pg_name`` gives the group.

    Raises:
        InputError: such an ``involved_dim``, or a group without this rank or past the world.
    """
    rank, world = where
    pg = a.get("pg_name")
    group = pgs.get(str(pg)) if pg is not None else None
    if pg is not None and group is None:
        roles["pg-name-unknown"] += 1
    dims = a.get("involved_dim")
    if not group and isinstance(dims, list) and not all(dims):
        raise InputError(
            f"involved_dim {dims}: a collective over some of the network's dimensions, whose "
            "ranks only ASTRA-sim's network configuration gives; expected every dimension "
            "involved, or a pg_name listed in process_group:init or comm_group.json",
            file=path,
            field=f"node {n.id}.involved_dim",
        )
    if not group:
        return tuple(range(world))
    if max(group) >= world or rank not in group:
        raise InputError(
            f"process group {pg!r} lists ranks {list(group)}: expected ranks below the world "
            f"({world}) including this file's rank ({rank})",
            file=path,
            field=f"node {n.id}.pg_name",
        )
    return group


#: What a node of each communication type is called in a refusal.
_NODE_KIND = {COLL: "a GPU COMM_COLL_NODE", SEND: "a SEND node", RECV: "a RECV node"}


def _int_attr(
    n: Any,
    a: dict[str, Any],
    key: str,
    path: str,
    *,
    bounds: tuple[int, int | None] = (0, None),
    default: int | None = None,
    expected: str | None = None,
) -> int:
    """A communication node's integer attribute ``key`` within ``bounds`` (``[lo, hi)``, no
    upper bound where ``hi`` is None), ``default`` where it is missing (None: required).

    Raises:
        InputError: missing, not an integer (a ``string_val``, which Chakra's feeder reads with
            ``int64_val()``/``int32_val()``, was "malformed trace: ValueError" naming neither
            node nor key) or out of bounds; naming the file, the node and the key, saying
            ``expected`` (default: the bounds).
    """
    lo, hi = bounds
    v = a.get(key, default)
    if isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v < hi):
        return v
    if expected is None:
        expected = f"an integer >= {lo}" if hi is None else f"a rank from {lo} to {hi - 1}"
    raise InputError(
        f"{_NODE_KIND.get(n.type, 'a node')} ({(n.name or '')[:40]!r}): expected {expected}, "
        f"got {'none' if v is None else clipped(repr(v), 40)}",
        file=path,
        field=f"node {n.id}.{key}",
    )


def _p2p(
    prog: Program, n: Any, a: dict[str, Any], where: tuple[int, str], common: dict[str, Any]
) -> int:
    """A send (its dependents go on once it is issued) or a receive, each on its own stream;
    ``where``: the world and the file's path."""
    world, path = where
    size = float(_int_attr(n, a, "comm_size", path, default=0))
    tag = _int_attr(n, a, "comm_tag", path, bounds=(-(2**31), None), default=0)
    if n.type == RECV:
        peer = _int_attr(n, a, "comm_src", path, bounds=(0, world))
        return prog.recv(
            peer=peer, size_B=size, tag=tag, stream=f"recv.{n.id}", category="p2p", **common
        )
    peer = _int_attr(n, a, "comm_dst", path, bounds=(0, world))
    prog.send(peer=peer, size_B=size, tag=tag, stream=f"send.{n.id}", category="p2p", **common)
    # dependents go on once the send is issued (ASTRA-sim's sends do not block)
    return prog.compute(
        f"{common['name']}.issued",
        duration_s=0.0,
        deps=common["deps"],
        stream=f"send.{n.id}.issue",
        category="p2p",
    )


def _compute(
    prog: Program,
    n: Any,
    a: dict[str, Any],
    cpu: dict[int, bool],
    roles: Counter[str],
    common: dict[str, Any],
) -> int:
    """A compute node (CPU or GPU); CPU nodes nested in a CPU parent run in zero time; CPU-side
    collectives and node types commsim does not model are zero-length nodes."""
    on_cpu = cpu[n.id]
    if n.type == COLL:
        roles["chakra-cpu-comm-node"] += 1
    elif n.type != COMP:
        roles[f"chakra-node-type-{n.type}"] += 1
    dur: float | None = n.duration_micros * 1e-6
    if on_cpu and any(d != n.id and cpu.get(d, False) for d in n.ctrl_deps):
        dur = 0.0
        roles["nested-cpu-op"] += 1
    elif n.type == COMP and not n.duration_micros and int(a.get("num_ops", 0)) > 0:
        dur = None  # only FLOPs: the cost model decides
    if n.type != COMP:
        dur = 0.0
    return prog.compute(
        duration_s=dur,
        flops=float(a.get("num_ops", 0)),
        bytes_accessed_B=float(a.get("tensor_size", 0)),
        stream="cpu" if on_cpu else "compute",
        category="other",
        **common,
    )
