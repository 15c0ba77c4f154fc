"""IR Program <-> Chakra nodes, and the length-delimited ET file format.

Mapping (Chakra attribute names as ASTRA-sim's converters write them, plus ``commsim.*``
attributes that make the round trip exact):

* ``Compute`` -> ``COMP_NODE``: ``duration_micros`` (rounded to whole microseconds, Chakra's
  unit), ``num_ops`` (FLOPs), ``tensor_size`` (bytes accessed), ``is_cpu_op`` false;
  ``commsim.duration_s`` keeps the exact seconds.
* ``Collective`` -> ``COMM_COLL_NODE``: ``comm_type`` (CollectiveCommType), ``comm_size``
  (bytes, the IR's nccl-tests convention), ``commsim.group`` (global ranks), ``commsim.algo``,
  ``commsim.root``.
* ``Send``/``Recv`` -> ``COMM_SEND_NODE``/``COMM_RECV_NODE``: ``comm_src``, ``comm_dst``,
  ``comm_tag``, ``comm_size``.
* deps -> ``data_deps``; the previous op on the same stream -> ``ctrl_deps`` (so that a
  consumer that knows no streams keeps the order); ``commsim.stream``, ``commsim.category``,
  ``commsim.layer``, ``commsim.microbatch`` keep the rest.

Importing a foreign Chakra file (no ``commsim.*`` attributes): deps are data and control
deps, compute nodes go on stream ``compute`` and communication on ``comm``, collectives span
every rank of the directory, and node types commsim does not model (memory, metadata,
storage) are counted and become zero-length compute nodes so that dependencies through them
hold.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from google.protobuf.internal.decoder import _DecodeVarint32
from google.protobuf.internal.encoder import _VarintBytes

from simulator.core.errors import InputError
from simulator.core.ir import Collective, Compute, Program, Recv, Send, Workload
from simulator.core.vocab import Algorithm, CollectiveOp, coerce
from simulator.traces.chakra.schema import COLL_TYPES, GlobalMetadata, Node

SCHEMA_VERSION = "0.0.4"  # Chakra schema version string written into GlobalMetadata
COMP, SEND, RECV, COLL = 4, 5, 6, 7  # NodeType numbers of et_def.proto
_COLL_CODE = {
    CollectiveOp.ALL_REDUCE: 0,
    CollectiveOp.REDUCE: 1,
    CollectiveOp.ALL_GATHER: 2,
    CollectiveOp.BROADCAST: 5,
    CollectiveOp.ALL_TO_ALL: 6,
    CollectiveOp.REDUCE_SCATTER: 7,
    CollectiveOp.BARRIER: 9,
}
_CODE_COLL = {v: k for k, v in _COLL_CODE.items()}
_CODE_COLL[8] = CollectiveOp.REDUCE_SCATTER  # REDUCE_SCATTER_BLOCK
ET_RE = re.compile(r"^(.*)\.(\d+)\.et$")


def _attr(node: Any, name: str, kind: str, value: Any) -> None:
    a = node.attr.add(name=name)
    if kind.endswith("_list"):
        getattr(a, kind).values.extend(value)
    else:
        setattr(a, kind, value)


def _attrs(node: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in node.attr:
        which = a.WhichOneof("value")
        if which is None:
            continue
        v = getattr(a, which)
        out[a.name] = list(v.values) if which.endswith("_list") else v
    return out


def program_to_nodes(prog: Program) -> list[Any]:
    """Chakra ``Node`` messages of one Program, in program order."""
    nodes = []
    last_on_stream: dict[str, int] = {}
    for op in prog.ops:
        n = Node(id=op.id, name=op.name)
        n.data_deps.extend(op.deps)
        prev = last_on_stream.get(op.stream)
        if prev is not None:
            n.ctrl_deps.append(prev)
        last_on_stream[op.stream] = op.id
        _attr(n, "commsim.stream", "string_val", op.stream)
        _attr(n, "commsim.category", "string_val", op.category)
        _attr(n, "commsim.layer", "int64_val", op.layer)
        _attr(n, "commsim.microbatch", "int64_val", op.microbatch)
        _attr(n, "is_cpu_op", "bool_val", False)
        if isinstance(op, Compute):
            n.type = COMP
            if op.duration_s is not None:
                n.duration_micros = round(op.duration_s * 1e6)
                _attr(n, "commsim.duration_s", "double_val", op.duration_s)
            _attr(n, "num_ops", "int64_val", round(op.flops))
            _attr(n, "tensor_size", "uint64_val", round(op.bytes_accessed_B))
            _attr(n, "commsim.flops", "double_val", op.flops)
            _attr(n, "commsim.bytes_accessed_B", "double_val", op.bytes_accessed_B)
        elif isinstance(op, Collective):
            n.type = COLL
            _attr(n, "comm_type", "int64_val", _COLL_CODE[op.op])
            if op.op is CollectiveOp.SEND_RECV:
                raise ValueError("a SEND_RECV collective has no Chakra type; use Send/Recv")
            _attr(n, "comm_size", "int64_val", round(op.size_B))
            _attr(n, "commsim.size_B", "double_val", op.size_B)
            _attr(n, "commsim.group", "int64_list", list(op.group))
            _attr(n, "commsim.algo", "string_val", op.algo)
            _attr(n, "commsim.root", "int64_val", op.root)
            if op.match_key is not None:
                _attr(n, "commsim.match_key", "string_val", op.match_key)
        elif isinstance(op, Send | Recv):
            n.type = SEND if isinstance(op, Send) else RECV
            src, dst = (prog.rank, op.peer) if isinstance(op, Send) else (op.peer, prog.rank)
            _attr(n, "comm_src", "int32_val", src)
            _attr(n, "comm_dst", "int32_val", dst)
            _attr(n, "comm_tag", "int64_val", op.tag)
            _attr(n, "comm_size", "int64_val", round(op.size_B))
            _attr(n, "commsim.size_B", "double_val", op.size_B)
        nodes.append(n)
    return nodes


def program_from_nodes(
    rank: int, nodes: list[Any], world: int, skipped: Counter[str] | None = None
) -> Program:
    """Rebuild a Program from Chakra nodes (commsim-written or foreign; see module doc)."""
    prog = Program(rank=rank)
    order = {n.id: i for i, n in enumerate(nodes)}
    id_map: dict[int, int] = {}
    for n in nodes:
        a = _attrs(n)
        ours = "commsim.stream" in a
        raw_deps = list(n.data_deps) if ours else [*n.data_deps, *n.ctrl_deps]
        deps = sorted({id_map[d] for d in raw_deps if d in id_map})
        if any(d not in id_map and d in order for d in raw_deps):
            raise InputError(f"node {n.id} depends on a later node", field="data_deps")
        common: dict[str, Any] = {
            "name": n.name,
            "deps": deps,
            "category": a.get("commsim.category", ""),
            "layer": int(a.get("commsim.layer", -1)),
            "microbatch": int(a.get("commsim.microbatch", -1)),
        }
        size = float(a.get("commsim.size_B", a.get("comm_size", 0)))
        if n.type == COLL:
            code = int(a.get("comm_type", 0))
            if code not in _CODE_COLL:
                raise InputError(
                    f"collective type {COLL_TYPES[code]} is not modelled",
                    field=f"node {n.id}.comm_type",
                )
            oid = prog.collective(
                op=_CODE_COLL[code],
                group=[int(g) for g in a.get("commsim.group", range(world))],
                size_B=size,
                algo=coerce(
                    Algorithm, a.get("commsim.algo", "auto"), field=f"node {n.id}.commsim.algo"
                ),
                root=int(a.get("commsim.root", 0)),
                stream=a.get("commsim.stream", "comm"),
                match_key=a.get("commsim.match_key"),
                **common,
            )
        elif n.type in (SEND, RECV):
            is_send = n.type == SEND
            peer = int(a.get("comm_dst" if is_send else "comm_src", -1))
            fn = prog.send if is_send else prog.recv
            oid = fn(
                peer=peer,
                size_B=size,
                tag=int(a.get("comm_tag", 0)),
                stream=a.get("commsim.stream", "comm"),
                **common,
            )
        else:
            if n.type != COMP and skipped is not None:
                skipped[f"chakra-node-type-{n.type}"] += 1
            dur: float | None = a.get("commsim.duration_s")
            if dur is None and not ours:
                # foreign node: its duration, unless it only gives FLOPs (cost model decides)
                has_ops = n.type == COMP and int(a.get("num_ops", 0)) > 0
                dur = n.duration_micros * 1e-6 if n.duration_micros or not has_ops else None
            oid = prog.compute(
                duration_s=None if dur is None else float(dur),
                flops=float(a.get("commsim.flops", a.get("num_ops", 0))),
                bytes_accessed_B=float(a.get("commsim.bytes_accessed_B", a.get("tensor_size", 0))),
                stream=a.get("commsim.stream", "compute"),
                **common,
            )
        id_map[n.id] = oid
    return prog


def write_et(path: Path, prog: Program, metadata: dict[str, str] | None = None) -> None:
    """Write one rank's Chakra ET file (GlobalMetadata, then the Nodes)."""
    gm = GlobalMetadata(version=SCHEMA_VERSION)
    for k, v in (metadata or {}).items():
        _attr(gm, k, "string_val", str(v))
    with path.open("wb") as fh:
        for msg in (gm, *program_to_nodes(prog)):
            data = msg.SerializeToString()
            fh.write(_VarintBytes(len(data)))
            fh.write(data)


def read_et(path: Path) -> tuple[Any, list[Any]]:
    """Read a Chakra ET file: ``(GlobalMetadata, [Node, ...])``.

    Raises:
        InputError: truncated or undecodable file.
    """
    buf = path.read_bytes()
    pos = 0
    msgs: list[bytes] = []
    while pos < len(buf):
        try:
            size, pos = _DecodeVarint32(buf, pos)
        except Exception as exc:  # the decoder raises its own internal error types
            raise InputError(f"bad length prefix at byte {pos}", file=str(path)) from exc
        if pos + size > len(buf):
            raise InputError(f"truncated message at byte {pos}", file=str(path))
        msgs.append(buf[pos : pos + size])
        pos += size
    if not msgs:
        raise InputError("empty Chakra file", file=str(path))
    gm = GlobalMetadata()
    gm.ParseFromString(msgs[0])
    nodes = []
    for m in msgs[1:]:
        n = Node()
        n.ParseFromString(m)
        nodes.append(n)
    return gm, nodes


def export_workload(wl: Workload, out_dir: Path, prefix: str = "commsim") -> list[Path]:
    """Write ``<prefix>.<rank>.et`` per program into ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "commsim.world": str(wl.world_size),
        **{f"commsim.meta.{k}": str(v) for k, v in wl.metadata.items()},
    }
    paths = []
    for prog in wl.programs:
        p = out_dir / f"{prefix}.{prog.rank}.et"
        write_et(p, prog, meta)
        paths.append(p)
    return paths


def import_chakra_dir(path: Path, skipped: Counter[str] | None = None) -> Workload:
    """Import every ``*.<rank>.et`` file of a directory as a Workload.

    Raises:
        InputError: no ET files, or a file that cannot be decoded.
    """
    files: dict[int, Path] = {}
    for p in Path(path).glob("*.et"):
        m = ET_RE.match(p.name)
        if m:
            files[int(m.group(2))] = p
    if not files:
        raise InputError("no <name>.<rank>.et Chakra files", file=str(path))
    world = max(files) + 1
    progs = []
    for rank in sorted(files):
        gm, nodes = read_et(files[rank])
        w = _attrs(gm).get("commsim.world")
        if w is not None:
            world = max(world, int(w))
        progs.append(program_from_nodes(rank, nodes, world, skipped))
    return Workload(programs=progs, world=world, metadata={"source": f"chakra {path}"})
