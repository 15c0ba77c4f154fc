"""Fit and judge the oversubscription law of a calibrated gloo profile on saved rig rows.

The law (:func:`simulator.collectives.backend.oversubscribed_hop_s`): with ``N`` rank processes
on ``C`` cores, each dependent hop of an op takes at least ``w_op * (1 - C/N)`` seconds.
:func:`fit_wait` fits ``w_op`` (least squares on relative error,
:func:`simulator.rig.hop_floor.fit_hop_floor`) over every row with ``N > C``, all sizes (so the
floor must leave large messages alone), each predicted with the profile the law extends.
``benchmarks/fit_oversubscription.py`` runs it on the saved fit set and writes the result.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from simulator.collectives.backend import BackendProfile, load_backend, oversubscribed_hop_s
from simulator.core.vocab import CollectiveOp
from simulator.rig.hop_floor import fit_hop_floor
from simulator.rig.microbench import BenchRow, Microbench, load_microbench, predict_row
from simulator.topology import Topology, load_topology

#: Rows from this size on are "large" (bandwidth-bound; the law must not move them), bytes.
LARGE_B = 1 << 20

Case = tuple[Topology, Microbench]


def load_case(path: str | Path) -> Case:
    """A saved microbenchmark run and its topology: the run's ``topology`` name with ``.yaml``
    in the same directory."""
    bench = load_microbench(path)
    return load_topology(str(Path(path).parent / f"{bench.topology}.yaml")), bench


def base_profile(path: str | Path) -> BackendProfile:
    """The profile in ``path`` with no oversubscription law and no floors."""
    return replace(load_backend(str(path)), oversubscription=None, hop_floor_s=None)


def _with_wait(base: BackendProfile, op: str, wait_s: float, n: int, cores: int) -> BackendProfile:
    """``base`` with ``op``'s hop floor set by the law for ``n`` ranks on ``cores`` cores."""
    return replace(base, hop_floor_s={CollectiveOp(op): oversubscribed_hop_s(wait_s, n, cores)})


def fit_wait(
    cases: list[Case], op: str, base: BackendProfile, cores: int
) -> tuple[float, int, float]:
    """The fitted wait ``w`` (s) of ``op`` over every row of ``cases`` with more ranks than
    ``cores``, how many rows, and the median |relative error| there with that ``w``."""
    rows: list[tuple[Topology, BenchRow]] = [
        (t, r) for t, b in cases for r in b.rows if r.op == op and b.n_ranks > cores
    ]
    measured = np.array([r.median_s for _, r in rows])

    def predict(w: float) -> np.ndarray:
        return np.array(
            [predict_row(t, r, _with_wait(base, op, w, r.n_ranks, cores)) or 0.0 for t, r in rows]
        )

    wait, _ = fit_hop_floor(predict, measured.tolist())
    resid = float(np.median(np.abs(predict(wait) - measured) / measured))
    return wait, len(rows), resid


def errors(cases: list[Case], profile: BackendProfile | None) -> dict[str, dict[str, float]]:
    """Per topology, the median |error| % of rows below :data:`LARGE_B` and from it on, each
    predicted with ``profile`` (None: the rig's own default, its rank count's calibration with
    the law, :func:`simulator.rig.calibrate.rig_calibration`); NaN where there are no rows."""
    from simulator.rig.calibrate import rig_calibration

    out: dict[str, dict[str, float]] = {}
    for t, b in cases:
        prof = profile if profile is not None else load_backend(rig_calibration(t.num_ranks))
        small: list[float] = []
        large: list[float] = []
        for r in b.rows:
            p = predict_row(t, r, prof)
            if p is not None:
                (large if r.size_B >= LARGE_B else small).append(abs(p / r.median_s - 1.0))
        out[t.name] = {
            "small_median_pct": 100 * statistics.median(small) if small else float("nan"),
            "large_median_pct": 100 * statistics.median(large) if large else float("nan"),
        }
    return out


# -- point to point: the wait of a receive while the other ranks compute ---------------------


@dataclass(frozen=True)
class StepCurve:
    """A recorded pipeline run's replayed step as a function of the ``send_recv`` wait.

    Attributes:
        name: the recording's rig topology.
        n_ranks: its ranks (processes on the rig's machine).
        measured_s: the recording's mean measured step, seconds.
        waits_s: the ``send_recv`` waits ``w`` replayed with, seconds, ascending.
        predicted_s: the replay's mean step at each of ``waits_s``, seconds.
        command: how the recording was made (and the machine's load), for the record.
    """

    name: str
    n_ranks: int
    measured_s: float
    waits_s: tuple[float, ...]
    predicted_s: tuple[float, ...]
    command: str = ""

    def predicted_at(self, wait_s: float) -> float:
        """The replayed step (s) at ``wait_s``, linear between the replayed waits."""
        return float(np.interp(wait_s, self.waits_s, self.predicted_s))

    def to_json(self) -> dict[str, object]:
        """The curve as saved in ``benchmarks/data/pp-fit-*.json``."""
        return {
            "name": self.name,
            "n_ranks": self.n_ranks,
            "measured_s": self.measured_s,
            "waits_s": list(self.waits_s),
            "predicted_s": list(self.predicted_s),
            "command": self.command,
        }


def load_curve(path: str | Path) -> StepCurve:
    """A :class:`StepCurve` saved by :meth:`StepCurve.to_json`."""
    d = json.loads(Path(path).read_text())
    return StepCurve(
        name=str(d["name"]),
        n_ranks=int(d["n_ranks"]),
        measured_s=float(d["measured_s"]),
        waits_s=tuple(float(w) for w in d["waits_s"]),
        predicted_s=tuple(float(p) for p in d["predicted_s"]),
        command=str(d.get("command", "")),
    )


def with_p2p_wait(base: BackendProfile, wait_s: float, n: int, cores: int) -> BackendProfile:
    """``base`` for ``n`` ranks on ``cores`` cores (its collective floors, if any) with the
    ``send_recv`` floor the law gives ``wait_s``."""
    prof = base.at_ranks(n, cores)
    floors = dict(prof.hop_floor_s or {})
    floors[CollectiveOp.SEND_RECV] = oversubscribed_hop_s(wait_s, n, cores)
    return replace(prof, hop_floor_s=floors)


def fit_p2p_wait(curves: list[StepCurve]) -> tuple[float, float]:
    """The ``send_recv`` wait ``w`` (s) that minimises the relative error of the replayed
    steps of ``curves`` (each recording one row), and the median |relative error| there."""
    measured = [c.measured_s for c in curves]

    def predict(w: float) -> np.ndarray:
        return np.array([c.predicted_at(w) for c in curves])

    wait, _ = fit_hop_floor(predict, measured)
    resid = float(np.median(np.abs(predict(wait) / np.array(measured) - 1.0)))
    return wait, resid
