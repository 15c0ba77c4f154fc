"""Explain a deadlock: who waits for whom, and why.

Called when the event queue is empty but ops are unfinished. Every op that was *reached*
(all predecessors done) but never *started* waits at a rendezvous: a collective missing some
members, or a send/recv missing its partner. For each, the message names the missing ranks
and where each of them is blocked, e.g.::

    rank 3 waits in collective 'ar.bucket2' (all_reduce) on group (0, 1, 2, 3): rank 2 never
    reached it (blocked at op 'recv.mb4' waiting for rank 1)
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Protocol

from simulator.core.ir import Collective, Recv, Send
from simulator.engine.errors import DeadlockError
from simulator.engine.records import OpTimes
from simulator.engine.streams import Plan


class Rendezvous(Protocol):
    """What the explanation reads of the engine's runner: who arrived where."""

    coll_pending: dict[Hashable, list[int]]

    def expected_members(self, g: int) -> list[int]:
        """Members of op ``g``'s group that have programs."""
        ...


#: At most this many blocked ops are described in the message (all are in ``.blocked``).
MAX_LINES = 12


def explain_deadlock(
    plan: Plan, times: OpTimes, now_s: float, unfinished: list[int], runner: Rendezvous
) -> DeadlockError:
    """Build the :class:`DeadlockError` for the ``unfinished`` global op indices."""
    blocked = [
        g for g in unfinished if not math.isnan(times.ready_s[g]) and math.isnan(times.start_s[g])
    ]
    first_blocked: dict[int, int] = {}
    for g in blocked:
        first_blocked.setdefault(plan.rank[g], g)
    unfinished_ranks = {plan.rank[g] for g in unfinished}

    def where(rank: int) -> str:
        g = first_blocked.get(rank)
        if g is not None:
            return f"blocked at op '{plan.ops[g].name}' {_short_reason(plan, g, runner)}"
        if rank in unfinished_ranks:
            return "stuck behind unfinished ops"
        return "finished its program without reaching it"

    entries: list[tuple[int, str, str]] = []
    for g in blocked:
        op = plan.ops[g]
        if isinstance(op, Collective):
            arrived = {plan.rank[a] for a in runner.coll_pending.get(plan.coll_key[g], [])}
            missing = [m for m in runner.expected_members(g) if m not in arrived]
            parts = [f"rank {m} never reached it ({where(m)})" for m in missing[:3]]
            if len(missing) > 3:
                parts.append(f"and {len(missing) - 3} more ranks")
            why = "; ".join(parts)
        elif isinstance(op, Recv):
            why = f"rank {op.peer} never reached the matching send ({where(op.peer)})"
        elif isinstance(op, Send):
            why = f"rank {op.peer} never reached the matching recv ({where(op.peer)})"
        else:  # pragma: no cover - compute ops start when reached
            why = "unknown"
        entries.append((plan.rank[g], op.name, why))
    lines = [f"deadlock at t={now_s:.6g} s: {len(unfinished)} ops never finished"]
    for g, (r, _name, why) in zip(blocked, entries, strict=True):
        if len(lines) > MAX_LINES:
            lines.append(f"... and {len(blocked) - MAX_LINES} more blocked ops")
            break
        lines.append(f"rank {r} {_head(plan, g)}: {why}")
    if not blocked:
        lines.append("no op is waiting at a rendezvous (ops wait on each other's deps)")
    return DeadlockError("\n".join(lines), time_s=now_s, blocked=entries)


def _head(plan: Plan, g: int) -> str:
    op = plan.ops[g]
    if isinstance(op, Collective):
        return f"waits in collective '{op.name}' ({op.op.value}) on group {op.group}"
    if isinstance(op, Recv):
        return f"waits in recv '{op.name}' from rank {op.peer} (tag {op.tag})"
    if isinstance(op, Send):
        return f"waits in send '{op.name}' to rank {op.peer} (tag {op.tag})"
    return f"waits at '{op.name}'"  # pragma: no cover


def _short_reason(plan: Plan, g: int, runner: Rendezvous) -> str:
    """Why op ``g`` (reached, not started) waits, in a few words."""
    op = plan.ops[g]
    if isinstance(op, Recv):
        return f"waiting for rank {op.peer}"
    if isinstance(op, Send):
        return f"waiting for rank {op.peer} to receive"
    if isinstance(op, Collective):
        arrived = {plan.rank[a] for a in runner.coll_pending.get(plan.coll_key[g], [])}
        missing = [m for m in runner.expected_members(g) if m not in arrived]
        return f"waiting for rank{'s' if len(missing) > 1 else ''} {_ranks(missing)}"
    return ""  # pragma: no cover


def _ranks(rs: list[int]) -> str:
    return ", ".join(map(str, rs)) if len(rs) <= 8 else f"{rs[0]}..{rs[-1]} ({len(rs)} ranks)"
