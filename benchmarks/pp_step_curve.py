"""Replay a recorded 1F1B pipeline on its rig at several ``send_recv`` waits; save the curve.

    PYTHONPATH=. .venv/bin/python benchmarks/pp_step_curve.py TRACE_DIR --topology T \\
        --save benchmarks/data/pp-fit-NAME.json --command "how TRACE_DIR was recorded"

The curve (mean replayed step against the wait ``w`` of the oversubscription law for
``send_recv``, :class:`simulator.rig.oversubscription.StepCurve`) is what
``benchmarks/fit_oversubscription.py`` fits ``hop_wait.send_recv`` on (``pp-fit-*.json``) and
judges it with (``pp-held-*.json``); the recordings themselves (60+ MB) are not kept.
"""

from __future__ import annotations

import argparse
import json
import warnings
from dataclasses import replace
from pathlib import Path

from simulator.collectives.backend import BackendProfile, load_backend
from simulator.rig.oversubscription import StepCurve, with_p2p_wait
from simulator.studies.trace_replay import replay
from simulator.topology import load_topology

#: The profile the law extends (as in fit_oversubscription.py).
BASE = Path(__file__).parents[1] / "simulator/data/calibration/gloo-rig-4rank.yaml"
#: Cores of the machine the recordings ran on (`nproc` on the rig host, 2026-12-06).
FIT_CORES = 2
#: Waits replayed, seconds: 0 to 8 ms (the collectives' fitted waits are 0.5-9.7 ms).
WAITS_S = [0.0, 1e-3, 2e-3, 3e-3, 4e-3, 5e-3, 6e-3, 8e-3]


def step_curve(
    trace_dir: str, topology: str, base: BackendProfile, waits_s: list[float], cores: int
) -> StepCurve:
    """Replay the recording in ``trace_dir`` on ``topology`` once per wait of ``waits_s``
    (the ``send_recv`` floor of :func:`with_p2p_wait`) and keep the mean step times."""
    n = load_topology(topology).num_ranks
    preds: list[float] = []
    measured, name = float("nan"), topology
    for w in sorted(waits_s):
        res = replay(trace_dir, topology=topology, backend=with_p2p_wait(base, w, n, cores))
        preds.append(res.predicted_step_s)
        measured, name = res.measured_step_s, res.topology
    return StepCurve(name, n, measured, tuple(sorted(waits_s)), tuple(preds))


def main() -> None:
    """Replay TRACE_DIR at every wait of :data:`WAITS_S` and save or print the curve."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("trace_dir")
    ap.add_argument("--topology", required=True)
    ap.add_argument("--save", type=Path)
    ap.add_argument("--command", default="", help="how the recording was made")
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # the 4-rank profile's fallback note, once per replay
    base = load_backend(str(BASE))  # its collective law applies; the send_recv wait is set
    curve = step_curve(args.trace_dir, args.topology, base, WAITS_S, FIT_CORES)
    curve = replace(curve, command=args.command)
    text = json.dumps(curve.to_json(), indent=1)
    if args.save:
        args.save.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
