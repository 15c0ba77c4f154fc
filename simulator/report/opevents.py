"""The op events of ``timeline.json`` formatted straight to JSON text, a column at a time.

:func:`op_event_text` yields, in order, the text of the events that
:func:`simulator.report.timeline.trace_events` yields first (process names, then one thread name
per new stream and one complete event per op), each exactly as ``json.dumps(event,
separators=(",", ":"))`` writes it: strings through the encoder's own ASCII escaper, ints with
``int.__repr__``, floats with ``float.__repr__`` (``NaN``/``Infinity`` where not finite), keys
in the same order. The arithmetic (``start_s * 1e6`` and so on) is elementwise IEEE double,
the same in numpy as in Python, so the numbers are the same too. Formatting whole columns at a
time instead of building a dict per op and encoding it is what makes ``run --out`` cheaper
(issue 18); the dict form stays the reference (``tests/test_opevents.py`` compares both).
"""

from __future__ import annotations

import json.encoder
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from simulator.core.units import format_size
from simulator.engine import StepResult
from simulator.report.floattext import float_reprs, grouped_texts

_US = 1e6  # microseconds per second (as in simulator.report.timeline)

#: Ops formatted per chunk (bounds the strings alive at once).
CHUNK = 8192

_quote = json.encoder.encode_basestring_ascii
_SPECIAL = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def json_floats(values: np.ndarray) -> list[str]:
    """``values`` (float64) as the JSON encoder writes each: ``repr``, or ``NaN``/``Infinity``."""
    text = float_reprs(values)
    if not np.isfinite(values).all():
        text = [_SPECIAL.get(t, t) for t in text]
    return text


def group_label(group: str) -> str:
    """``g[0..7]`` for a contiguous group, else the ranks (first two and last beyond 8)."""
    ranks = [int(x) for x in group.split(",") if x != ""]
    if not ranks:
        return ""
    if len(ranks) > 2 and ranks == list(range(ranks[0], ranks[0] + len(ranks))):
        return f"g[{ranks[0]}..{ranks[-1]}]"
    if len(ranks) <= 8:
        return "g[" + ",".join(map(str, ranks)) + "]"
    return f"g[{ranks[0]},{ranks[1]},..,{ranks[-1]}] ({len(ranks)} ranks)"


def comm_label(op: str, size_B: float, group: str, peer: int, kind: str) -> str:
    """``all_reduce 64 MiB g[0..7]`` / ``send 1 MiB -> 3``: what a communication op moves."""
    label = f"{op} {format_size(float(size_B))}"
    if group:
        label += f" {group_label(str(group))}"
    elif int(peer) >= 0:
        label += f" {'->' if kind == 'send' else '<-'} {int(peer)}"
    return label


def _process_events(ranks: Sequence[int]) -> Iterator[str]:
    for rank in ranks:
        yield (
            f'{{"ph":"M","name":"process_name","pid":{rank},"tid":0,'
            f'"args":{{"name":{_quote(f"rank {rank}")}}}}}'
        )
        yield (
            f'{{"ph":"M","name":"process_sort_index","pid":{rank},"tid":0,'
            f'"args":{{"sort_index":{rank}}}}}'
        )


def op_event_text(result: StepResult) -> Iterator[str]:
    """The JSON text of the op-related trace events, in the order of the trace, as runs of
    comma-separated events (process names, then the ops of :data:`CHUNK` ops at a time)."""
    ranks = [int(r) for r in result.simulated_ranks]
    if ranks:
        yield ",".join(_process_events(ranks))
    ops = result.op_columns
    n = len(ops["rank"])
    tids: dict[tuple[int, str], int] = {}
    per_rank: dict[int, int] = {}
    labels: dict[tuple[Any, ...], tuple[str, str]] = {}
    for lo in range(0, n, CHUNK):
        part = {c: col[lo : lo + CHUNK] for c, col in ops.items()}
        yield _chunk(part, tids, per_rank, labels)


def _ints(column: Any) -> list[int]:
    return np.asarray(column, dtype=np.int64).tolist()


def _floats(column: Any) -> np.ndarray:
    return np.asarray(column, dtype=np.float64)


def _tail(layer: int, microbatch: int) -> str:
    """The op args after the communication ones: ``layer``, ``microbatch`` where >= 0."""
    return (f',"layer":{layer}' if layer >= 0 else "") + (
        f',"microbatch":{microbatch}' if microbatch >= 0 else ""
    )


def _chunk(
    part: dict[str, Any],
    tids: dict[tuple[int, str], int],
    per_rank: dict[int, int],
    labels: dict[tuple[Any, ...], tuple[str, str]],
) -> str:
    """The text of the events of the ops in ``part`` (a slice of ``result.op_columns``), with
    the thread names of streams first seen here in front of their first op's event."""
    rank, ident, peer = (_ints(part[c]) for c in ("rank", "id", "peer"))
    stream, name, kind, cat, op, group, algo = (
        list(part[c]) for c in ("stream", "name", "kind", "category", "op", "group", "algo")
    )
    start = _floats(part["start_s"])
    with np.errstate(invalid="ignore"):  # inf - inf is NaN, as in Python
        span = _floats(part["end_s"]) - start
        wait_all = start - _floats(part["ready_s"])
    ts = json_floats(start * _US)
    dur = json_floats(np.where(span < 0.0, 0.0, span) * _US)  # max(span, 0.0), NaN kept
    size_arr = _floats(part["size_B"])
    size_B: list[float] = size_arr.tolist()

    head = [""] * len(rank)  # a thread name event before the op's, or ""
    keys = list(zip(rank, stream, strict=True))
    tid: list[int | None] = list(map(tids.get, keys))
    for i in [i for i, t in enumerate(tid) if t is None]:  # streams first seen in this chunk
        key = keys[i]
        t = tids.get(key)
        if t is None:
            t = tids[key] = per_rank[key[0]] = per_rank.get(key[0], 0) + 1
            head[i] = (
                f'{{"ph":"M","name":"thread_name","pid":{key[0]},"tid":{t},'
                f'"args":{{"name":{_quote(key[1])}}}}},'
            )
        tid[i] = t

    extra = [""] * len(kind)  # the args of a communication op after "kind"
    comm = [i for i, k in enumerate(kind) if k != "compute"]
    wait = json_floats(wait_all[comm] * _US)
    size = json_floats(size_arr[comm])
    for j, i in enumerate(comm):
        what = (op[i], size[j], group[i], peer[i], kind[i], algo[i])  # size as written
        known = labels.get(what)  # label and args up to "wait_us", formatted once per kind
        if known is None:
            known = labels[what] = (
                " " + comm_label(op[i], size_B[i], group[i], peer[i], kind[i]),
                f',"op":{_quote(op[i])},"size_B":{size[j]},"group":{_quote(group[i])}'
                f',"peer":{peer[i]},"algo":{_quote(algo[i])},"wait_us":',
            )
        name[i] += known[0]
        extra[i] = known[1] + wait[j]
    layer, micro = (np.asarray(part[c], dtype=np.int64) for c in ("layer", "microbatch"))
    tail = grouped_texts([layer, micro], _tail)  # few (layer, micro-batch) pairs: once each
    cats = [c or k for c, k in zip(cat, kind, strict=True)]
    return ",".join(
        [
            f'{h}{{"ph":"X","name":{qn},"cat":{qc},"pid":{r},"tid":{t},"ts":{a},"dur":{d},'
            f'"args":{{"id":{i},"kind":{qk}{x}{y}}}}}'
            for h, qn, qc, r, t, a, d, i, qk, x, y in zip(
                head,
                map(_quote, name),
                map(_quote, cats),
                rank,
                tid,
                ts,
                dur,
                ident,
                map(_quote, kind),
                extra,
                tail,
                strict=True,
            )
        ]
    )
