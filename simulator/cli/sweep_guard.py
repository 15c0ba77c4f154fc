"""``commsim sweep``'s survival: the per-point store, Ctrl-C and a lost cluster.

* With ``--out DIR`` every finished point is written to ``DIR/points/`` as it completes
  (:class:`~simulator.sweep_store.SweepStore`); ``--resume`` runs only the missing points.
* Ctrl-C: the finished points stay on disk, ``sweep.csv``/``sweep.json`` are written with what
  finished (``"complete": false``), one line says how many, exit 130, no traceback.
* A lost cluster (:class:`~simulator.studies.sweep_runner.ClusterLost`): the same, with one
  error line and exit 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from simulator.core.errors import InputError

T = TypeVar("T")


def check_sweep_args(args: Any) -> None:
    """``--resume`` needs ``--out``; ``--timeout`` and ``--lost-after`` are in (0, a day].

    A day is ``record --timeout``'s limit (:data:`~simulator.traces.recipe_limits.MAX_TIMEOUT_S`);
    a point is one simulation, which the size limits keep to minutes. ``--timeout 1e30``
    overflowed the timer thread's ``time_t`` (a traceback from the thread, then the sweep ran
    on)."""
    from simulator.traces.recipe_limits import check_timeout

    if args.resume and not args.out:
        raise InputError(
            "--resume needs --out DIR (where the finished points are)", field="--resume"
        )
    for flag, value in (("--timeout", args.timeout), ("--lost-after", args.lost_after)):
        if value is not None:
            check_timeout(
                value, flag, why="a point is one simulation, which the size limits keep to minutes"
            )
    from simulator.cli.file_args import check_png_arg

    check_png_arg(getattr(args, "plot", None), "--plot")


def open_store(args: Any, out: Path | None, vary: Sequence[tuple[str, Sequence[str]]]) -> Any:
    """The point store in ``out`` (``None`` without ``--out``); a fresh sweep clears old points."""
    if out is None:
        return None
    from simulator.outputs import prepare_out_dir
    from simulator.sweep_store import POINTS_DIR, SweepStore

    prepare_out_dir(out)
    if not args.resume:
        for old in (out / POINTS_DIR).glob("*.json"):
            old.unlink()
    spec = {
        "scenario": str(args.scenario),
        "base": list(args.overrides),
        "vary": [[k, list(v)] for k, v in vary],
        "fidelity": args.fidelity,
    }
    return SweepStore(out, spec, resume=bool(args.resume))


def run_guarded_sweep(
    run: Callable[[], T],
    out: Path | None,
    write: Callable[[Path, dict[str, Any]], None],
) -> T | int:
    """``run()``'s result, or an exit status after Ctrl-C (130) or a lost cluster (1)."""
    from simulator.studies.sweep_runner import ClusterLost

    try:
        return run()
    except KeyboardInterrupt as exc:
        _keep(exc, out, write, "interrupted")
        return 130
    except ClusterLost as exc:
        _keep(exc, out, write, f"error: {exc}")
        return 1


def _keep(
    exc: BaseException,
    out: Path | None,
    write: Callable[[Path, dict[str, Any]], None],
    what: str,
) -> None:
    partial: dict[str, Any] | None = getattr(exc, "partial", None)
    done = len(partial["points"]) if partial else 0
    total = partial.get("total_points", "?") if partial else "?"
    where = ""
    if out is not None and partial is not None:
        partial["complete"] = False
        try:
            write(out, partial)
            where = f"; kept in {out}/ (commsim sweep ... --out {out} --resume finishes it)"
        except OSError as err:
            where = f"; could not write {out}: {err.strerror or err}"
    elif partial is not None:
        where = " (not kept: give --out DIR to keep finished points)"
    print(f"commsim sweep: {what}; {done} of {total} points finished{where}", file=sys.stderr)
