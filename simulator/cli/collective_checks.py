"""Checks of ``commsim collective``'s flags made before anything is simulated.

Each names the flag at fault: ``--root 99`` on 8 ranks is a root out of range (not "no
algorithm can run broadcast"), ``send_recv`` on 3 ranks needs exactly 2 ranks, ``--ranks
0-1000000000`` is refused before a billion integers are listed.
"""

from __future__ import annotations

from typing import Any

from simulator.core.errors import InputError
from simulator.core.units import MAX_COUNT


def check_rank_text(text: str, num_ranks: int) -> None:
    """Refuse a ``--ranks`` range that reaches past the topology before it is expanded."""
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        for bound in (lo, hi) if sep else (lo,):
            bound = bound.strip()
            if bound.lstrip("+").isdigit() and int(bound) >= num_ranks:
                raise InputError(
                    f"rank {int(bound)} out of range 0..{num_ranks - 1} of the topology",
                    field="--ranks",
                )


def check_flags(args: Any, n_ranks: int) -> None:
    """``--root``, the op's group size, ``--channels`` and ``--chunks``."""
    op = str(args.op).strip().lower()
    # every op: `--root -1` on all_reduce was "no algorithm of backend nccl can run all_reduce"
    if not 0 <= args.root < n_ranks:
        raise InputError(
            f"root must be a group index in 0..{n_ranks - 1} ({n_ranks} ranks), got {args.root}",
            field="--root",
        )
    if op == "send_recv" and n_ranks != 2:
        raise InputError(
            f"send_recv runs between exactly 2 ranks, got {n_ranks}; pick two with --ranks",
            field="--ranks",
        )
    if args.channels is not None and args.channels < 1:
        raise InputError(f"must be >= 1, got {args.channels}", field="--channels")
    if args.chunks < 1:
        raise InputError(f"must be >= 1, got {args.chunks}", field="--chunks")
    if args.chunks > MAX_COUNT:  # unused by flow fidelity: 2**63 was accepted there
        raise InputError(f"must be <= {MAX_COUNT:,}, got {args.chunks:.3g}", field="--chunks")
