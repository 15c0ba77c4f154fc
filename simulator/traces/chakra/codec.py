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
* Process groups: every distinct collective group gets a ``pg_name`` ("0", "1"...: ASTRA-sim
  parses it as an integer) and is listed in a ``METADATA_NODE`` named ``process_group:init``
  (first node of the file; ``inputs.values`` = ``['<JSON list of {pg_name, ranks}>']``, the
  form ASTRA-sim's ``issue_pytorch_pg_metadata`` strips and parses); every collective
  data-depends on it so that the groups exist before it is issued.
* Attribute value types are those Chakra's feeder reads (``FEEDER_TYPES``, from
  ``src/feeder/et_feeder_node.cpp``): a value of another type reads as 0 there.
* Dependencies: Chakra's feeder orders by ``data_deps`` only, so ``data_deps`` = the op's
  deps plus the previous op on the same stream (stream order); ``commsim.deps`` keeps the
  op's own deps for an exact round trip. ``ctrl_deps`` are left empty (Chakra's converter uses
  them for the parent host op). ``commsim.stream``, ``commsim.category``, ``commsim.layer``,
  ``commsim.microbatch`` keep the rest.

Foreign Chakra files (no ``commsim.*`` attributes) are read with Chakra's semantics by
:mod:`.foreign`.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from google.protobuf import proto
from google.protobuf.message import DecodeError

from simulator.core.errors import InputError
from simulator.core.ir import Collective, Compute, Program, Recv, Send, Workload
from simulator.core.vocab import Algorithm, CollectiveOp, coerce
from simulator.traces.chakra.foreign import comm_groups_file, foreign_program
from simulator.traces.chakra.schema import COLL_TYPES, FEEDER_TYPES, GlobalMetadata, Node
from simulator.traces.chakra.sizes import chakra_comm_size, ir_size_B

PG_INIT = "process_group:init"
SCHEMA_VERSION = "0.0.4"  # Chakra schema version string written into GlobalMetadata
METADATA, COMP, SEND, RECV, COLL = 1, 4, 5, 6, 7  # NodeType numbers of et_def.proto
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


def process_group_names(wl: Workload) -> dict[tuple[int, ...], str]:
    """A ``pg_name`` ("0", "1", ...) per distinct collective group of the workload."""
    names: dict[tuple[int, ...], str] = {}
    for prog in wl.programs:
        for op in prog.ops:
            if isinstance(op, Collective) and op.group not in names:
                names[op.group] = str(len(names))
    return names


def pg_init_node(node_id: int, pgs: dict[tuple[int, ...], str]) -> Any:
    """The ``process_group:init`` METADATA node listing ``pgs`` (ASTRA-sim's format)."""
    n = Node(id=node_id, name=PG_INIT, type=METADATA)
    items = [{"pg_name": name, "ranks": list(g)} for g, name in pgs.items()]
    n.inputs.values = "['" + json.dumps(items) + "']"
    _attr(n, "is_cpu_op", "bool_val", False)
    return n


def program_to_nodes(prog: Program, pgs: dict[tuple[int, ...], str] | None = None) -> list[Any]:
    """Chakra ``Node`` messages of one Program, in program order.

    ``pgs``: process-group names by group (:func:`process_group_names`); when given, a
    ``process_group:init`` node comes first and collectives carry ``pg_name``.
    """
    nodes = []
    pg_id = max((op.id for op in prog.ops), default=-1) + 1
    if pgs is None:
        pgs = {}
        for op in prog.ops:
            if isinstance(op, Collective) and op.group not in pgs:
                pgs[op.group] = str(len(pgs))
    if pgs:
        nodes.append(pg_init_node(pg_id, pgs))
    last_on_stream: dict[str, int] = {}
    for op in prog.ops:
        n = Node(id=op.id, name=op.name)
        deps = set(op.deps)
        prev = last_on_stream.get(op.stream)
        if prev is not None:
            deps.add(prev)
        if isinstance(op, Collective) and pgs:
            deps.add(pg_id)
        n.data_deps.extend(sorted(deps))
        last_on_stream[op.stream] = op.id
        _attr(n, "commsim.deps", "int64_list", list(op.deps))
        _attr(n, "commsim.stream", "string_val", op.stream)
        _attr(n, "commsim.category", "string_val", op.category)
        _attr(n, "commsim.layer", "int64_val", op.layer)
        _attr(n, "commsim.microbatch", "int64_val", op.microbatch)
        _attr(n, "is_cpu_op", FEEDER_TYPES["is_cpu_op"], False)
        if isinstance(op, Compute):
            n.type = COMP
            if op.duration_s is not None:
                n.duration_micros = round(op.duration_s * 1e6)
                _attr(n, "commsim.duration_s", "double_val", op.duration_s)
            _attr(n, "num_ops", FEEDER_TYPES["num_ops"], round(op.flops))
            _attr(n, "tensor_size", FEEDER_TYPES["tensor_size"], round(op.bytes_accessed_B))
            _attr(n, "commsim.flops", "double_val", op.flops)
            _attr(n, "commsim.bytes_accessed_B", "double_val", op.bytes_accessed_B)
        elif isinstance(op, Collective):
            n.type = COLL
            if op.op is CollectiveOp.SEND_RECV:
                raise ValueError("a SEND_RECV collective has no Chakra type; use Send/Recv")
            _attr(n, "comm_type", FEEDER_TYPES["comm_type"], _COLL_CODE[op.op])
            comm_size = chakra_comm_size(op.op, op.size_B, len(op.group))
            _attr(n, "comm_size", FEEDER_TYPES["comm_size"], round(comm_size))
            _attr(n, "pg_name", FEEDER_TYPES["pg_name"], pgs[op.group])
            _attr(n, "commsim.size_B", "double_val", op.size_B)
            _attr(n, "commsim.group", "int64_list", list(op.group))
            _attr(n, "commsim.algo", "string_val", op.algo)
            _attr(n, "commsim.root", "int64_val", op.root)
            if op.match_key is not None:
                _attr(n, "commsim.match_key", "string_val", op.match_key)
        elif isinstance(op, Send | Recv):
            n.type = SEND if isinstance(op, Send) else RECV
            src, dst = (prog.rank, op.peer) if isinstance(op, Send) else (op.peer, prog.rank)
            _attr(n, "comm_src", FEEDER_TYPES["comm_src"], src)
            _attr(n, "comm_dst", FEEDER_TYPES["comm_dst"], dst)
            _attr(n, "comm_tag", FEEDER_TYPES["comm_tag"], op.tag)
            _attr(n, "comm_size", FEEDER_TYPES["comm_size"], round(op.size_B))
            _attr(n, "commsim.size_B", "double_val", op.size_B)
        nodes.append(n)
    return nodes


def program_from_nodes(
    rank: int, nodes: list[Any], world: int, skipped: Counter[str] | None = None
) -> Program:
    """Rebuild a Program from Chakra nodes (commsim-written or foreign; see module doc)."""
    if not is_commsim(nodes):
        roles = skipped if skipped is not None else Counter()
        return foreign_program(rank, nodes, world, f"rank {rank}", roles)
    prog = Program(rank=rank)
    nodes = [n for n in nodes if n.type != METADATA]
    order = {n.id: i for i, n in enumerate(nodes)}
    id_map: dict[int, int] = {}
    for n in nodes:
        a = _attrs(n)
        ours = "commsim.stream" in a
        raw_deps = list(a["commsim.deps"]) if "commsim.deps" in a else list(n.data_deps)
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
            group = [int(g) for g in a.get("commsim.group", range(world))]
            if "commsim.size_B" not in a:
                size = ir_size_B(_CODE_COLL[code], size, len(group))
            oid = prog.collective(
                op=_CODE_COLL[code],
                group=group,
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


def is_commsim(nodes: list[Any]) -> bool:
    """Whether the nodes were written by commsim (they carry ``commsim.stream``)."""
    return any("commsim.stream" in _attrs(n) for n in nodes[:2])


def write_messages(path: Path, msgs: list[Any]) -> None:
    """Write protobuf messages length-delimited (Chakra's framing) with protobuf's public API."""
    buf = io.BytesIO()
    for msg in msgs:
        proto.serialize_length_prefixed(msg, buf)
    path.write_bytes(buf.getvalue())


def write_et(
    path: Path,
    prog: Program,
    metadata: dict[str, str] | None = None,
    pgs: dict[tuple[int, ...], str] | None = None,
) -> None:
    """Write one rank's Chakra ET file (GlobalMetadata, then the Nodes)."""
    gm = GlobalMetadata(version=SCHEMA_VERSION)
    for k, v in (metadata or {}).items():
        _attr(gm, k, "string_val", str(v))
    write_messages(path, [gm, *program_to_nodes(prog, pgs)])


def read_et(path: Path) -> tuple[Any, list[Any]]:
    """Read a Chakra ET file: ``(GlobalMetadata, [Node, ...])``.

    Raises:
        InputError: unreadable, empty, truncated or undecodable file (names the message).
    """
    if path.exists() and not path.is_file():  # a FIFO blocked read_bytes() forever
        raise InputError("not a regular file; expected a Chakra ET file", file=str(path))
    try:
        buf = io.BytesIO(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    msgs: list[Any] = []
    cls: Any = GlobalMetadata
    while True:
        at = buf.tell()
        try:
            msg = proto.parse_length_prefixed(cls, buf)
        except (DecodeError, ValueError, IndexError, RuntimeWarning) as exc:
            what = "GlobalMetadata" if not msgs else f"node message {len(msgs)}"
            raise InputError(
                f"not a Chakra ET (truncated or corrupt): {what} at byte {at} does not decode "
                f"({exc})",
                file=str(path),
            ) from exc
        if msg is None:
            break
        msgs.append(msg)
        cls = Node
    if not msgs:
        raise InputError("empty Chakra file", file=str(path))
    return msgs[0], msgs[1:]


def export_workload(wl: Workload, out_dir: Path, prefix: str = "commsim") -> list[Path]:
    """Write ``<prefix>.<rank>.et`` per program into ``out_dir``; return the paths.

    Raises:
        InputError: ``out_dir`` exists and is not empty (nothing is ever overwritten), or it
            cannot be made or written.
    """
    from simulator.outputs import check_no_dead_link

    out_dir = Path(out_dir)
    check_no_dead_link(out_dir, "--chakra-out")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InputError(
            "exists and is not an empty directory; commsim never overwrites it",
            file=str(out_dir),
            field="--chakra-out",
        )
    pgs = process_group_names(wl)
    meta = {
        "commsim.world": str(wl.world_size),
        "commsim.steps_per_program": str(wl.steps_per_program),
        **{f"commsim.meta.{k}": str(v) for k, v in wl.metadata.items()},
    }
    paths = []
    try:  # a directory that cannot be made or written (/proc/x, a read-only disk, a full one)
        out_dir.mkdir(parents=True, exist_ok=True)
        for prog in wl.programs:
            p = out_dir / f"{prefix}.{prog.rank}.et"
            write_et(p, prog, meta, pgs)
            paths.append(p)
    except OSError as exc:  # was exit 70 (run) or "malformed trace" naming the input (replay)
        raise InputError(
            f"cannot write: {exc.strerror or exc}", file=str(out_dir), field="--chakra-out"
        ) from None
    return paths


def _check_rank(rank: int, file: Path) -> None:
    """Refuse a rank past :data:`simulator.limits.MAX_RANKS` in a file name (a
    ``x.99999999999.et`` made a world of 10^11 ranks)."""
    from simulator.limits import MAX_RANKS

    if rank >= MAX_RANKS:
        raise InputError(
            f"rank {rank} in the file name is past the limit of {MAX_RANKS:,} ranks",
            file=str(file),
        )


#: A Chakra file in JSON (either of :mod:`.jsonform`'s forms), named as a ``.et`` file is.
JSON_RE = re.compile(r"^(.*)\.(\d+)\.json(\.gz)?$")


def chakra_files(path: Path) -> dict[int, Path]:
    """The directory's Chakra files by rank: ``<name>.<rank>.et``, or the same names in JSON
    (``.json`` / ``.json.gz`` whose first bytes are Chakra's, :func:`~simulator.traces.sniff.
    json_kind`). ASTRA-sim reads one ``<name>`` per run, so two names are refused.

    Raises:
        InputError: no Chakra file, or the files of several workloads.
    """
    from simulator.traces.sniff import json_kind

    found: dict[str, dict[int, Path]] = {}
    for p in sorted(path.iterdir()):
        m = ET_RE.match(p.name)
        if m is None:  # JSON: only regular files are opened to sniff (a FIFO would block)
            m = JSON_RE.match(p.name)
            if m is None or not p.is_file() or json_kind(p) != "chakra-json":
                continue
        _check_rank(int(m.group(2)), p)
        same = found.setdefault(m.group(1), {})
        if int(m.group(2)) in same:
            raise InputError(
                f"{same[int(m.group(2))].name} and {p.name} are both rank {m.group(2)}; expected "
                "one file per rank (.et or JSON)",
                file=str(path),
            )
        same[int(m.group(2))] = p
    if not found:
        raise InputError(
            "no Chakra files (<name>.<rank>.et, or Chakra JSON <name>.<rank>.json)", file=str(path)
        )
    if len(found) > 1:
        names = ", ".join(
            f"{k}.<rank> ({len(v)} file{'s' if len(v) > 1 else ''})"
            for k, v in sorted(found.items())
        )
        raise InputError(
            f"holds the Chakra files of {len(found)} workloads ({names}); expected one "
            "<name>.<rank> set per directory, as ASTRA-sim reads them",
            file=str(path),
        )
    return next(iter(found.values()))


def _read_any(path: Path) -> tuple[Any, list[Any]]:
    """A Chakra file in either form: protobuf (``.et``) or JSON (:mod:`.jsonform`)."""
    if path.name.endswith(".et"):
        return read_et(path)
    from simulator.traces.chakra.jsonform import read_et_json

    return read_et_json(path)


def _count_attr(gm: Any, key: str, file: Path, expected: str, top: int | None = None) -> int | None:
    """The GlobalMetadata attribute ``key`` of ``file`` as a whole number >= 1 (and <= ``top``
    where given): commsim's ``commsim.world`` and ``commsim.steps_per_program``; None where the
    file does not give it.

    Raises:
        InputError: anything else, naming the file and key and saying ``expected``.
    """
    value = _attrs(gm).get(key)
    if value is None:
        return None
    text = str(value)
    if not text.isdigit() or int(text) < 1 or (top is not None and int(text) > top):
        raise InputError(f"expected {expected}, got {text[:40]!r}", file=str(file), field=key)
    return int(text)


def _ranks_text(ranks: list[int]) -> str:
    """``[1, 2, 5]`` as ``1, 2, 5`` (the first eight, then how many more)."""
    shown = ", ".join(str(r) for r in ranks[:8])
    return shown if len(ranks) <= 8 else f"{shown} and {len(ranks) - 8} more"


def import_chakra_dir(
    path: Path, skipped: Counter[str] | None = None, *, world: int | None = None
) -> Workload:
    """Import every ``<name>.<rank>.et`` file (or Chakra JSON file) of a directory as a Workload.

    ``world``: the job's number of ranks when the directory holds fewer files (a rank-0-only
    converter output); missing ranks are mirrored by the engine. Without it the world is the
    files' (or commsim's ``commsim.world`` metadata). Notes for the user (a 1-rank world with
    collectives, which then cost nothing) are in ``metadata['warnings']``.

    Raises:
        InputError: no ET files, or a file that cannot be decoded.
    """
    from simulator.limits import MAX_RANKS

    files = chakra_files(Path(path))
    n_world = max(files) + 1
    loaded = {r: _read_any(files[r]) for r in sorted(files)}
    spp = 1  # training steps one run of the files holds (commsim's chained replay steps)
    ranks = f"a rank count between 1 and {MAX_RANKS:,}"
    for r, (gm, _) in loaded.items():
        n_world = max(n_world, _count_attr(gm, "commsim.world", files[r], ranks, MAX_RANKS) or 0)
        steps = _count_attr(
            gm, "commsim.steps_per_program", files[r], "a whole number of steps >= 1"
        )
        spp = max(spp, steps or 1)
    if world is not None:
        if world < n_world:
            raise InputError(
                f"--world {world} is smaller than the files' ranks ({n_world})", field="--world"
            )
        n_world = world
    if not any(nodes for _gm, nodes in loaded.values()):
        raise InputError(
            f"no nodes in any of its {len(files)} file(s): expected a workload to replay",
            file=str(path),
        )
    roles: Counter[str] = skipped if skipped is not None else Counter()
    groups = comm_groups_file(Path(path), n_world)
    progs = []
    for rank, (_gm, nodes) in loaded.items():
        if is_commsim(nodes):
            progs.append(program_from_nodes(rank, nodes, n_world, roles))
        else:
            progs.append(foreign_program(rank, nodes, n_world, str(files[rank]), roles, groups))
    return Workload(
        programs=progs,
        world=n_world,
        steps_per_program=spp,
        metadata={
            "source": f"chakra {path}",
            "warnings": _warnings(path, progs, n_world, roles, files),
        },
    )


def _warnings(
    path: Path, progs: list[Program], world: int, roles: Counter[str], files: dict[int, Path]
) -> list[str]:
    """What the user must know of an imported Chakra directory (``files``: rank -> file)."""
    out = []
    gaps = [r for r in range(max(files)) if r not in files]
    if gaps:
        out.append(
            f"{path}: no file for rank{'s' if len(gaps) > 1 else ''} {_ranks_text(gaps)} "
            f"(between ranks that have one): the engine mirrors {'them' if len(gaps) > 1 else 'it'}"
        )
    has_coll = any(isinstance(op, Collective) for p in progs for op in p.ops)
    if world == 1 and has_coll:
        out.append(
            f"{path}: one rank and no --world: every collective is over 1 rank and costs "
            "nothing; pass --world N for the job's size"
        )
    mem = roles["chakra-node-type-2"] + roles["chakra-node-type-3"]
    if mem:
        out.append(
            f"{path}: {mem} MEM_LOAD/MEM_STORE node(s) run in zero time: commsim models no "
            "(remote) memory transfers; ASTRA-sim times them with its memory configuration"
        )
    if roles["dangling-data-dep"]:
        out.append(
            f"{path}: {roles['dangling-data-dep']} data_deps name a node no file holds: "
            "left out (the node waits for nothing there)"
        )
    if roles["pg-name-unknown"]:
        out.append(
            f"{path}: {roles['pg-name-unknown']} collective(s) name a pg_name that neither a "
            "process_group:init node nor comm_group.json lists: simulated over every rank"
        )
    return out
