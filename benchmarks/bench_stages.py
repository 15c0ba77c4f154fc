"""Where the time of ``commsim run SCENARIO --json`` goes, stage by stage, in one process.

Run: ``PYTHONPATH=TREE python benchmarks/bench_stages.py [SCENARIO]`` (default: the flagship,
``scenarios/gpt3-175b-1024xh100.yaml``), from the root of the tree measured. Prints one line
``stage=seconds ...`` (``time.perf_counter`` around each stage; wall time, so run it on a quiet
machine, see benchmarks/RESULTS.md). Stages: the imports ``run`` needs, topology load, workload
build, the engine's plan, finding isolated collectives and proven copies, the event run, the
result, and the rest (scenario load, JSON). The CLI's collector settings
(:mod:`simulator.core.gcphases`, where the tree has it) are in force from the first import, as
in ``commsim run``. Works on older trees too (the stages it wraps must exist).
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from collections.abc import Callable
from typing import Any

FLAGSHIP = "scenarios/gpt3-175b-1024xh100.yaml"


def _timed(spent: dict[str, float], owner: Any, name: str, label: str) -> None:
    """Replace ``owner.name`` by a wrapper adding its wall time to ``spent[label]``."""
    inner: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - t

    setattr(owner, name, wrapper)


def main() -> None:
    scenario = sys.argv[1] if len(sys.argv) > 1 else FLAGSHIP
    t0 = time.perf_counter()
    try:
        from simulator.core.gcphases import few_collections
    except ImportError:  # a tree from before the collector settings
        few_collections = contextlib.nullcontext  # type: ignore[assignment]
    spent: dict[str, float] = {}
    with few_collections():
        import simulator.cli as cli
        import simulator.cli.run  # noqa: F401 (the command's module, as main imports it)
        import simulator.engine.runner as runner
        import simulator.studies.scenario as scen

        t1 = time.perf_counter()
        _timed(spent, scen, "load_scenario_topology", "topology load")
        _timed(spent, scen, "build_workload", "workload build")
        _timed(spent, runner, "build_plan", "engine plan")
        _timed(spent, runner, "find_isolated", "find isolated")
        _timed(spent, runner, "find_copies", "find copies")
        _timed(spent, runner._Runner, "run", "event run")
        _timed(spent, runner, "build_result", "build result")
        t2 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            status = cli.main(["run", scenario, "--json"])
        t3 = time.perf_counter()
    if status:
        raise SystemExit(f"commsim run {scenario} exited {status}")
    parts = {
        "imports": t1 - t0,
        **spent,
        "rest (load, json, ...)": (t3 - t2) - sum(spent.values()),
        "total": t3 - t0,
    }
    print(" ".join(f"{k}={v:.3f}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
