"""``commsim sweep --plot FILE``: the swept figure.

Step time (and its exposed communication, dotted) against the first ``--vary`` key, one line
per combination of the other keys. Points that failed are left out and counted in the title.
A first key with non-numeric values (names, kinds) is drawn as categories in grid order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.core.errors import InputError

#: Up to this many numeric values of the first key, the x ticks are the values themselves.
MAX_VALUE_TICKS = 12


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def value_ticks(xs: list[Any]) -> tuple[list[float], list[str]] | None:
    """The x ticks of a numeric first key: its swept values and their labels (a grid of pp=4,8
    had ticks at 4.5, 5.5, ...), or None above :data:`MAX_VALUE_TICKS` values (matplotlib's)."""
    if len(xs) > MAX_VALUE_TICKS:
        return None
    return [float(v) for v in xs], [_label(v) for v in xs]


def plot_sweep(res: dict[str, Any], path: str | Path) -> Path:
    """Draw ``res`` (:meth:`simulator.studies.sweeps.SweepResult.to_json`) to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(res["vary"])
    x_key, others = keys[0], keys[1:]
    xs = list(res["vary"][x_key])
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    pos = {_label(v): (float(v) if numeric else i) for i, v in enumerate(xs)}
    lines: dict[tuple[str, ...], list[tuple[float, float, float]]] = {}
    failed = 0
    for p in res["points"]:
        if "error" in p:
            failed += 1
            continue
        s = p["set"]
        key = tuple(f"{k}={_label(s[k])}" for k in others)
        lines.setdefault(key, []).append(
            (pos[_label(s[x_key])], float(p["step_time_s"]), float(p["exposed_comm_s"]))
        )
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for i, (key, pts) in enumerate(sorted(lines.items())):
        pts.sort()
        color = f"C{i % 10}"
        label = ", ".join(key) or "step time"
        ax.plot([x for x, _, _ in pts], [y for _, y, _ in pts], "o-", color=color, label=label)
        ax.plot([x for x, _, _ in pts], [c for _, _, c in pts], ":", color=color, alpha=0.7)
    if not numeric:
        ax.set_xticks(list(pos.values()), list(pos))
    else:
        if len(xs) > 2 and min(xs) > 0 and max(xs) / min(xs) >= 16:
            ax.set_xscale("log", base=2)
        ticks = value_ticks(xs)
        if ticks is not None:
            ax.set_xticks(*ticks)
            ax.minorticks_off()
    ax.set_xlabel(x_key)
    ax.set_ylabel("seconds per step (dotted: exposed communication)")
    ax.set_ylim(bottom=0)
    title = f"sweep of {Path(str(res['scenario'])).stem}"
    if failed:
        title += f" ({failed} points failed)"
    ax.set_title(title)
    if len(lines) > 1 or others:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110, bbox_inches="tight")
    except OSError as exc:  # was "cannot use this path", the flag not named
        raise InputError(
            f"cannot write: {exc.strerror or exc}", file=str(out), field="--plot"
        ) from None
    finally:
        plt.close(fig)
    return out
