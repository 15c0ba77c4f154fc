"""ASTRA-sim 1.0 text workloads (``inputs/workload/*.txt``) -> the workload IR.

Grammar and semantics are ASTRA-sim 1.0's parser and training loop,
``astra-sim/workload/Workload.cc`` @ 92c9c20d2270b8c2575bc508c04a95b55a234457 (tag
``tutorial-asplos2022``):

* Header (``initialize_workload``): the parallelism type (``decode_parallelsim``), then for
  ``HYBRID_TRANSFORMER`` / ``HYBRID_TRANSFORMER_FWD_IN_BCKWD`` ``model_parallel_NPU_group: N``
  (the latter also ``checkpoints: K l1..lK checkpoint_initiates: K l1..lK``); next line the
  number of layers.
* Each layer, whitespace separated: name, dependency (read, unused), forward compute, forward
  comm type, forward comm size, input-gradient compute/type/size, weight-gradient
  compute/type/size, update time. Times are ticks; ``CLOCK_PERIOD`` is 1
  (``astra-sim/system/Common.hh``) and ``Sys::mem_read`` turns ns into ticks with it, so one
  tick is 1 ns. Sizes are bytes; an ALLGATHER's size is one rank's contribution (``Ring.cc``:
  ``final_data_size = data_size * nodes_in_ring``), converted to the IR's gathered size.
* Groups (``decode_involved_dimensions``): DATA and MICRO run only the weight-gradient comm,
  over every rank; MODEL runs forward and input-gradient comms over every rank and no
  weight-gradient comm; HYBRID_DATA_MODEL: forward/input-gradient over the topology's first
  dimension, weight-gradient over the others; HYBRID_MODEL_DATA the reverse; the transformer
  types: forward/input-gradient over the first dimensions that hold ``model_parallel_NPU_group``
  ranks, weight-gradient over the rest. commsim's first dimension is one host's ranks; a
  dimension group is the ranks that differ only in that dimension's coordinate.
* HYBRID_CUSTOMIZED (``iterate_hybrid_parallel_customized``, the HYBRID_DATA_MODEL loop): a
  13th field per layer names the layer's own type, whose groups that layer's comms take.
* Schedule (``iterate_*``): forward, layer 0 up: compute then (not DATA/MICRO) the forward comm,
  blocking. DATA/MICRO backward, top layer down: weight-gradient compute, its comm
  (non-blocking), then (not layer 0) the input-gradient compute. The others: input-gradient
  compute, its comm (transformer: blocking; MODEL/HYBRID_*: non-blocking and not for layer 0),
  weight-gradient compute, its comm (non-blocking; none for MODEL), then wait for the layer's
  input-gradient comm. Every comm finishes ``update time`` after its last byte
  (``Layer::call``: ``fwd_update_time = input_grad_update_time = weight_grad_update_time``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from simulator.core.errors import InputError
from simulator.core.ir import Program, Workload
from simulator.core.vocab import CollectiveOp
from simulator.traces.chakra.sizes import ir_size_B

TICK_S = 1e-9  # one ASTRA-sim 1.0 tick (CLOCK_PERIOD 1 ns, astra-sim/system/Common.hh @ 92c9c20d)

POLICIES = (
    "DATA",
    "MODEL",
    "HYBRID_DATA_MODEL",
    "HYBRID_MODEL_DATA",
    "HYBRID_TRANSFORMER",
    "HYBRID_TRANSFORMER_FWD_IN_BCKWD",
    "MICRO",
    "HYBRID_CUSTOMIZED",
)
#: The policies a HYBRID_CUSTOMIZED layer may name in its last column (the transformer ones
#: need a model_parallel_NPU_group, which ASTRA-sim 1.0 leaves at -1 for this type).
LAYER_POLICIES = ("DATA", "MODEL", "HYBRID_DATA_MODEL", "HYBRID_MODEL_DATA", "MICRO")
#: ASTRA-sim 1.0 policies commsim does not import, and why.
UNSUPPORTED = {
    "HYBRID_DLRM": "its own loop, iterate_hybrid_parallel_DLRM",
    "HYBRID_DLRM_ENHANCED": "its own loop, iterate_hybrid_parallel_DLRM",
    "DISTRIBUTED_INFERENCE": "its own loop, iterate_distributed_inference",
}
COMM_TYPES = {
    "ALLREDUCE": CollectiveOp.ALL_REDUCE,
    "ALLGATHER": CollectiveOp.ALL_GATHER,
    "REDUCESCATTER": CollectiveOp.REDUCE_SCATTER,
    "ALLTOALL": CollectiveOp.ALL_TO_ALL,
}
_FIELDS = (
    "name",
    "dependency",
    "fwd_compute",
    "fwd_comm_type",
    "fwd_comm_size",
    "ig_compute",
    "ig_comm_type",
    "ig_comm_size",
    "wg_compute",
    "wg_comm_type",
    "wg_comm_size",
    "update_time",
)
_KNOWN_TYPES = ", ".join([*COMM_TYPES, "NONE"])


@dataclass(frozen=True)
class TextLayer:
    """One layer line: compute times in ticks (ns), comm sizes in bytes (ASTRA-sim's)."""

    line: int
    name: str
    fwd_ticks: int
    fwd_comm: str
    fwd_B: int
    ig_ticks: int
    ig_comm: str
    ig_B: int
    wg_ticks: int
    wg_comm: str
    wg_B: int
    update_ticks: int
    policy: str | None = None  # HYBRID_CUSTOMIZED: this layer's own parallelism


@dataclass(frozen=True)
class TextWorkload:
    """A parsed ASTRA-sim 1.0 text workload."""

    path: str
    policy: str
    layers: tuple[TextLayer, ...]
    mp_group: int | None = None
    checkpoints: tuple[int, ...] = field(default=())


def looks_like_text_workload(path: Path) -> bool:
    """A file whose first word is an ASTRA-sim 1.0 parallelism type."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            first = f.readline().split()
    except OSError:
        return False
    return bool(first) and (first[0] in POLICIES or first[0] in UNSUPPORTED)


def _int(tok: str, path: str, line: int, name: str, *, minimum: int = 0) -> int:
    try:
        v = int(tok)
    except ValueError:
        v = minimum - 1
    if v < minimum:
        raise InputError(
            f"expected a whole number >= {minimum}, got {tok!r}",
            file=path,
            field=f"line {line}: {name}",
        )
    return v


def _header(words: list[str], path: str) -> tuple[str, int | None, tuple[int, ...]]:
    policy = words[0]
    if policy in UNSUPPORTED:
        raise InputError(
            f"{policy} is not imported (ASTRA-sim runs it with {UNSUPPORTED[policy]}); "
            "expected one of "
            f"{', '.join(POLICIES)}",
            file=path,
            field="line 1: parallelism",
        )
    if policy not in POLICIES:
        raise InputError(
            f"unknown {policy!r}; expected one of {', '.join(POLICIES)}",
            file=path,
            field="line 1: parallelism",
        )
    keys: dict[str, list[int]] = {}
    i = 1
    while i < len(words):  # "key: v v ..." pairs; any word that is not a number starts a key
        key = words[i].rstrip(":")
        vals: list[int] = []
        i += 1
        while i < len(words) and words[i].lstrip("-").isdigit():
            vals.append(_int(words[i], path, 1, key))
            i += 1
        keys[key] = vals
    extra = set(keys) - {"model_parallel_NPU_group", "checkpoints", "checkpoint_initiates"}
    if extra:
        raise InputError(
            f"unknown key(s) {', '.join(sorted(extra))} (SimAI's pipeline/expert/accumulation "
            "keys are not imported); expected model_parallel_NPU_group, checkpoints, "
            "checkpoint_initiates",
            file=path,
            field="line 1",
        )
    mp: int | None = None
    if policy.startswith("HYBRID_TRANSFORMER"):
        got = keys.get("model_parallel_NPU_group", [])
        if len(got) != 1 or got[0] < 1:
            raise InputError(
                "expected 'model_parallel_NPU_group: N' (N >= 1) after the type",
                file=path,
                field="line 1: model_parallel_NPU_group",
            )
        mp = got[0]
    ck = keys.get("checkpoints", [])
    return policy, mp, tuple(ck[1:]) if ck else ()


def parse_text_workload(path: str | Path) -> TextWorkload:
    """Read an ASTRA-sim 1.0 text workload (grammar: module doc).

    Raises:
        InputError: naming the file, line and field of the first thing that does not fit.
    """
    p = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=p) from None
    lines = [(n, ln.split()) for n, ln in enumerate(text.splitlines(), 1)]
    lines = [(n, w) for n, w in lines if w]
    if not lines:
        raise InputError("empty; expected a parallelism type on line 1", file=p, field="line 1")
    policy, mp, ck = _header(lines[0][1], p)
    if len(lines) < 2 or len(lines[1][1]) != 1:
        n = lines[1][0] if len(lines) > 1 else 2
        raise InputError(
            "expected the number of layers alone on the line", file=p, field=f"line {n}: layers"
        )
    count = _int(lines[1][1][0], p, lines[1][0], "layers", minimum=1)
    rows = lines[2:]
    if len(rows) != count:
        raise InputError(
            f"line 2 says {count} layers, the file has {len(rows)} layer lines",
            file=p,
            field="layers",
        )
    layers = []
    custom = policy == "HYBRID_CUSTOMIZED"
    names = (*_FIELDS, "layer_parallelism") if custom else _FIELDS
    for n, w in rows:
        if len(w) != len(names):
            raise InputError(
                f"expected {len(names)} fields ({' '.join(names)}), got {len(w)}",
                file=p,
                field=f"line {n}",
            )
        vals = dict(zip(names, w, strict=True))
        if custom and vals["layer_parallelism"] not in LAYER_POLICIES:
            raise InputError(
                f"got {vals['layer_parallelism']!r}; expected one of {', '.join(LAYER_POLICIES)}",
                file=p,
                field=f"line {n}: layer_parallelism",
            )
        _int(vals["dependency"], p, n, "dependency", minimum=-1)
        for kind in ("fwd", "ig", "wg"):
            t = vals[f"{kind}_comm_type"]
            if t != "NONE" and t not in COMM_TYPES:
                raise InputError(
                    f"unknown comm type {t!r}; expected one of {_KNOWN_TYPES}",
                    file=p,
                    field=f"line {n}: {kind}_comm_type",
                )
        layers.append(
            TextLayer(
                line=n,
                name=vals["name"],
                fwd_ticks=_int(vals["fwd_compute"], p, n, "fwd_compute"),
                fwd_comm=vals["fwd_comm_type"],
                fwd_B=_int(vals["fwd_comm_size"], p, n, "fwd_comm_size"),
                ig_ticks=_int(vals["ig_compute"], p, n, "ig_compute"),
                ig_comm=vals["ig_comm_type"],
                ig_B=_int(vals["ig_comm_size"], p, n, "ig_comm_size"),
                wg_ticks=_int(vals["wg_compute"], p, n, "wg_compute"),
                wg_comm=vals["wg_comm_type"],
                wg_B=_int(vals["wg_comm_size"], p, n, "wg_comm_size"),
                update_ticks=_int(vals["update_time"], p, n, "update_time"),
                policy=vals.get("layer_parallelism"),
            )
        )
    return TextWorkload(path=p, policy=policy, layers=tuple(layers), mp_group=mp, checkpoints=ck)


def comm_groups(
    tw: TextWorkload, world: int, dim0: int, policy: str | None = None
) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """``(model groups, data groups)``: each rank in exactly one of each (module doc).

    ``dim0``: the ranks of the topology's first dimension (one host's ranks); ``policy``: a
    HYBRID_CUSTOMIZED layer's (default the file's).

    Raises:
        InputError: a model-parallel group that does not divide ``world``.
    """
    everyone: list[tuple[int, ...]] = [tuple(range(world))]
    alone: list[tuple[int, ...]] = [(r,) for r in range(world)]
    policy = policy or tw.policy
    if policy in ("DATA", "MICRO"):
        return alone, everyone
    if policy == "MODEL":
        return everyone, alone
    mp = tw.mp_group if tw.mp_group is not None else dim0
    if policy == "HYBRID_MODEL_DATA":
        mp = world // dim0 if world % dim0 == 0 else 0
    if mp < 1 or world % mp:
        what = (
            "model_parallel_NPU_group"
            if tw.mp_group is not None
            else "the topology's ranks per host"
        )
        raise InputError(
            f"{what} ({tw.mp_group or dim0}) must divide the world ({world})",
            file=tw.path,
            field="--world",
        )
    if policy == "HYBRID_MODEL_DATA":  # data over dimension 0 (consecutive), model over the rest
        data = [tuple(range(b, b + dim0)) for b in range(0, world, dim0)]
        model = [tuple(range(o, world, dim0)) for o in range(dim0)]
        return model, data
    model = [tuple(range(b, b + mp)) for b in range(0, world, mp)]
    data = [tuple(range(o, world, mp)) for o in range(mp)]
    return model, data


Groups = tuple[list[tuple[int, ...]], list[tuple[int, ...]]]
#: per rank: (its model group, its data group)
RankGroups = list[tuple[tuple[int, ...], tuple[int, ...]]]


def _by_rank(groups: Groups, world: int) -> RankGroups:
    model: dict[int, tuple[int, ...]] = {r: g for g in groups[0] for r in g}
    data: dict[int, tuple[int, ...]] = {r: g for g in groups[1] for r in g}
    return [(model[r], data[r]) for r in range(world)]


def text_program(tw: TextWorkload, rank: int, groups: list[RankGroups]) -> Program:
    """One rank's step (the schedule of the module doc); ``groups[i][rank]``: layer ``i``'s
    ``(model group, data group)`` of ``rank``."""
    prog = Program(rank=rank)
    data_only = tw.policy in ("DATA", "MICRO")
    transformer = tw.policy.startswith("HYBRID_TRANSFORMER")

    def comm(kind: str, ly: TextLayer, i: int, deps: list[int]) -> int | None:
        model, data = groups[i][rank]
        stream = "comm_data" if kind == "wg" else "comm_model"
        group = data if kind == "wg" else model
        ctype, size = {
            "fwd": (ly.fwd_comm, ly.fwd_B),
            "ig": (ly.ig_comm, ly.ig_B),
            "wg": (ly.wg_comm, ly.wg_B),
        }[kind]
        if ctype == "NONE" or size == 0 or len(group) < 2:
            return None
        op = COMM_TYPES[ctype]
        cat = "dp" if stream == "comm_data" else "tp"
        cid = prog.collective(
            f"{ly.name}.{kind}_comm", op=op, group=group,
            size_B=float(ir_size_B(op, size, len(group))), stream=stream, deps=deps,
            category=cat, layer=i,
        )  # fmt: skip
        if ly.update_ticks == 0:
            return cid
        return prog.compute(
            f"{ly.name}.{kind}_update", duration_s=ly.update_ticks * TICK_S,
            stream=f"update_{kind}", deps=[cid], category="optim", layer=i,
        )  # fmt: skip

    def compute(kind: str, ly: TextLayer, i: int, ticks: int, deps: list[int]) -> int:
        cat = "fwd" if kind == "fwd" else "bwd"
        return prog.compute(
            f"{ly.name}.{kind}", duration_s=ticks * TICK_S, deps=deps, category=cat, layer=i
        )

    last: list[int] = []
    for i, ly in enumerate(tw.layers):
        last = [compute("fwd", ly, i, ly.fwd_ticks, last)]
        if not data_only:
            done = comm("fwd", ly, i, last)
            last = [done] if done is not None else last
    for i in range(len(tw.layers) - 1, -1, -1):
        ly = tw.layers[i]
        if data_only:
            last = [compute("wg", ly, i, ly.wg_ticks, last)]
            comm("wg", ly, i, last)
            if i > 0:
                last = [compute("ig", ly, i, ly.ig_ticks, last)]
            continue
        last = [compute("ig", ly, i, ly.ig_ticks, last)]
        ig_done = comm("ig", ly, i, last) if (transformer or i > 0) else None
        if transformer and ig_done is not None:
            last = [ig_done]
            ig_done = None
        last = [compute("wg", ly, i, ly.wg_ticks, last)]
        if tw.policy != "MODEL":  # a MODEL layer of HYBRID_CUSTOMIZED: its data group is 1 rank
            comm("wg", ly, i, last)
        if ig_done is not None:
            last = [*last, ig_done]
    return prog


def text_workload(tw: TextWorkload, world: int, dim0: int) -> Workload:
    """The IR Workload of ``tw`` on ``world`` ranks (``dim0``: ranks of one host).

    Raises:
        InputError: groups that do not fit ``world``.
    """
    dim0 = min(dim0, world)  # a job smaller than a host: its first dimension is the job
    cache: dict[str | None, RankGroups] = {}
    for ly in tw.layers:
        if ly.policy not in cache:
            cache[ly.policy] = _by_rank(comm_groups(tw, world, dim0, ly.policy), world)
    groups = [cache[ly.policy] for ly in tw.layers]
    progs = [text_program(tw, r, groups) for r in range(world)]
    warnings = []
    if tw.checkpoints:
        warnings.append(
            f"{tw.path}: {len(tw.checkpoints)} checkpoint layer(s): the forward recomputation of "
            "HYBRID_TRANSFORMER_FWD_IN_BCKWD is not modelled (the step is the plain transformer "
            "loop)"
        )
    if world == 1:
        warnings.append(
            f"{tw.path}: one rank: every comm is over 1 rank and costs nothing; pass --world N"
        )
    return Workload(
        programs=progs,
        world=world,
        metadata={"source": f"astra-sim text {tw.path}", "warnings": warnings, "policy": tw.policy},
    )
