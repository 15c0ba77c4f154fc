"""Speed at scale (issue 18): wall time, peak RSS, flows, settles and events per case.

Run: ``nice .venv/bin/python benchmarks/bench_scale.py [--cases NAME ...] [--plot PNG]``.
Every case runs in a fresh child process (``--child NAME``), so its peak RSS
(``ru_maxrss``, imports included) is its own. Cases:

* ``ar-1024`` .. ``ar-65536``: one 1 GiB all_reduce at flow fidelity (nccl backend, auto
  algorithm) on ``fat-tree-1024`` and on three-tier radix-64 fat trees of 512, 2,048 and
  8,192 DGX-A100-like nodes (8 A100 80GB, 8 HDR NICs each; built here, see :func:`ar_topology`).
* ``step-1024``: ``scenarios/gpt3-175b-1024xh100.yaml`` (flagship), ``run`` as the CLI does.
* ``out-1024``: the same with everything ``run --out DIR`` writes (tables, timeline, PNGs).
* ``step-16384``: GPT-3 175B TP8 PP8 DP256, global batch 16,384, on 2,048 DGX H100 on a
  three-tier NDR fat tree of 64-port switches (flagship recipe otherwise).
* ``published-<name>``: one Megatron training row of ``validate --published`` at flow fidelity.

Flows, settles and events are counted on every fabric the case creates (isolated collectives
run on private fabrics: their flows are counted once per distinct collective, not per replay).
Events are simpy's scheduled events (``Environment._eid``) over every environment a fabric
was built on. Results go to benchmarks/RESULTS.md (## scale).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

#: All-reduce cases: name -> (nodes, shipped topology or None to build a 3-tier tree).
AR_CASES: dict[str, tuple[int, str | None]] = {
    "ar-1024": (128, "fat-tree-1024"),
    "ar-4096": (512, None),
    "ar-16384": (2048, None),
    "ar-65536": (8192, None),
}

#: ASTRA-sim analytical backend, 1 GiB all-reduce (issue 18: measured elsewhere, not here).
ASTRA_SIM_S = {1024: 2.15, 4096: 42.6}

#: commsim before this work, as issue 18 measured it on the same VM under lighter load.
ISSUE_BEFORE_S = {1024: 0.54, 4096: 3.39, 16384: 24.8}


def ar_topology(nodes: int) -> dict[str, Any]:
    """A three-tier non-blocking fat tree of radix-64 switches, ``nodes`` DGX-A100-like nodes."""
    return {
        "name": f"fat-tree-3tier-{8 * nodes}",
        "description": f"{nodes} DGX-A100-like nodes (8 A100 80GB, 8 HDR NICs), 3-tier radix 64",
        "build": {
            "type": "cluster",
            "nodes": nodes,
            "gpu": "A100-80GB",
            "nics_per_node": 8,
            "nic": "ib_hdr",
            "fabric": "fat_tree_3tier",
            "switch_radix": 64,
        },
    }


def step16k_files(tmp: Path) -> Path:
    """Write the 16,384-GPU topology and scenario into ``tmp``; return the scenario path."""
    topo = {
        "name": "h100-ndr-3tier-16384",
        "description": "2,048 DGX H100 (8 H100 SXM, 8 NDR NICs), 3-tier fat tree of 64-port NDR",
        "build": {
            "type": "cluster",
            "nodes": 2048,
            "gpu": "H100-SXM",
            "nics_per_node": 8,
            "nic": "ib_ndr",
            "fabric": "fat_tree_3tier",
            "switch_radix": 64,
        },
    }
    (tmp / "h100-ndr-3tier-16384.yaml").write_text(yaml.safe_dump(topo))
    sc = yaml.safe_load((ROOT / "scenarios" / "gpt3-175b-1024xh100.yaml").read_text())
    sc["name"] = "gpt3-175b-16384xh100"
    sc["topology"] = str(tmp / "h100-ndr-3tier-16384.yaml")
    sc["strategy"]["dp"] = 256
    sc["training"]["global_batch"] = 16384
    path = tmp / "gpt3-175b-16384xh100.yaml"
    path.write_text(yaml.safe_dump(sc))
    return path


_TOKENS = itertools.count()


class _Counters:
    """Every Fabric built while a case runs (patched into ``simulator.network``).

    Holds only weak references: a fabric is counted when it is collected (or at the end, if
    still alive), so the benchmark keeps no fabric alive longer than the simulator does and
    the peak RSS is the simulator's own.
    """

    def __init__(self) -> None:
        self.live: weakref.WeakSet[Any] = weakref.WeakSet()
        #: per collected fabric: flows, flows on the fabric, settles, env token, env events
        self.done: list[tuple[int, int, int, int, int]] = []

    @staticmethod
    def _count(f: Any) -> tuple[int, int, int, int, int]:
        env = f._env
        if not hasattr(env, "_bench_token"):  # id() of a collected env may be reused
            env._bench_token = next(_TOKENS)
        return (f.flows_started, len(f._spec), f.settles, env._bench_token, next(env._eid))

    def install(self) -> None:
        import simulator.network as net
        import simulator.network.fabric as fab

        base = fab.Fabric
        counters = self

        class CountingFabric(base):  # type: ignore[misc,valid-type]
            def __init__(self, *a: Any, **k: Any) -> None:
                super().__init__(*a, **k)
                counters.live.add(self)

            def __del__(self) -> None:
                counters.done.append(counters._count(self))

        net.Fabric = CountingFabric  # type: ignore[misc]
        fab.Fabric = CountingFabric  # type: ignore[misc]

    def totals(self) -> dict[str, int]:
        rows = self.done + [self._count(f) for f in list(self.live)]
        events: dict[int, int] = {}
        for *_, env, eid in rows:  # several fabrics may share an environment
            events[env] = max(events.get(env, 0), eid)
        return {
            "fabrics": len(rows),
            "flows": sum(r[0] for r in rows),
            "fabric_flows": sum(r[1] for r in rows),
            "settles": sum(r[2] for r in rows),
            "events": sum(events.values()),
        }


def run_child(case: str) -> dict[str, Any]:
    """Run ``case`` in this process; return its figures."""
    counters = _Counters()
    counters.install()
    out: dict[str, Any] = {"case": case}
    t0 = time.perf_counter()
    if case in AR_CASES:
        from simulator.collectives import simulate_collective
        from simulator.limits import forced
        from simulator.topology import load_topology, topology_from_dict

        nodes, shipped = AR_CASES[case]
        with forced(True):  # 65,536 ranks is above the CLI's default limit: asked for here
            topo = load_topology(shipped) if shipped else topology_from_dict(ar_topology(nodes))
            t_built = time.perf_counter()
            res = simulate_collective(topo, "all_reduce", 2**30, record=False)
        out.update(
            gpus=topo.num_ranks,
            links=len(topo.links),
            build_s=t_built - t0,
            time_s=res.time_s,
            busbw_GBps=res.busbw_Bps / 1e9,
            algo=res.algo,
        )
    elif case in ("step-1024", "out-1024", "step-16384"):
        from simulator.cli import main

        with tempfile.TemporaryDirectory() as tmpd:
            tmp = Path(tmpd)
            sc = (
                str(ROOT / "scenarios" / "gpt3-175b-1024xh100.yaml")
                if case != "step-16384"
                else str(step16k_files(tmp))
            )
            argv = ["run", sc, "--json"]
            if case == "out-1024":
                argv += ["--out", str(tmp / "out")]
            import contextlib
            import io

            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                rc = main(argv)
            payload = json.loads(buf.getvalue())
            out.update(rc=rc, step_time_s=payload["step_time_s"], gpus=payload["world"])
    elif case.startswith("published-"):
        from simulator.studies import validate_published

        pub = validate_published([case.removeprefix("published-")], fidelity="flow")
        out.update(rows=pub.to_json()["rows"])
    else:
        raise SystemExit(f"unknown case {case}")
    out["wall_s"] = time.perf_counter() - t0
    out["peak_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.update(counters.totals())
    return out


def plot(results: list[dict[str, Any]], path: Path, names: dict[str, str]) -> None:
    """Log-log wall time against GPUs for the all-reduce cases, one line per tree measured
    (``names``: tree -> legend label), fitted exponent each, and ASTRA-sim's figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for root, name in names.items():
        ar = sorted(
            (r["gpus"], r["wall_s"]) for r in results if r["case"] in AR_CASES and r["root"] == root
        )
        if len(ar) < 2:
            continue
        x, y = np.array([a for a, _ in ar], float), np.array([b for _, b in ar], float)
        k, c = np.polyfit(np.log(x), np.log(y), 1)
        load = np.mean([r["load1"] for r in results if r["root"] == root and r["case"] in AR_CASES])
        ax.loglog(
            x,
            y,
            "o-",
            label=f"commsim {name}, flow fidelity, load avg {load:.0f} (fit: GPUs^{k:.2f})",
        )
        ax.loglog(x, np.exp(c) * x**k, ":", color="grey")
        print(f"{name}: fitted exponent {k:.3f}")
    ax.loglog(
        list(ISSUE_BEFORE_S),
        list(ISSUE_BEFORE_S.values()),
        "^:",
        label="commsim before, lighter load (issue 18's table)",
    )
    ax.loglog(
        list(ASTRA_SIM_S),
        list(ASTRA_SIM_S.values()),
        "s--",
        label="ASTRA-sim analytical backend (congestion-unaware), measured elsewhere (issue 18)",
    )
    ax.set_xlabel("GPUs")
    ax.set_ylabel("wall time, s (1 GiB all_reduce, fresh process)")
    ax.set_title("Simulator wall time against cluster size (shared 2-core VM, see load)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def _run_case(case: str, root: str) -> dict[str, Any] | None:
    """``case`` in a child process on tree ``root``; its figures, or None if it failed."""
    env = {**os.environ, "PYTHONPATH": root}
    load = os.getloadavg()[0]
    proc = subprocess.run(
        [sys.executable, __file__, "--child", case],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        print(f"{case} [{root}]: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    r: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    r["root"], r["load1"] = root, (load + os.getloadavg()[0]) / 2
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", default=None)
    ap.add_argument("--cases", nargs="*", default=[*AR_CASES, "step-1024", "out-1024"])
    ap.add_argument("--plot", default=None, help="PNG of wall time against GPUs")
    ap.add_argument("--json", default=None, help="append one JSON line per case to this file")
    ap.add_argument(
        "--root",
        nargs="+",
        default=[str(ROOT)],
        help="commsim trees to measure (PYTHONPATH), each case on each tree back to back",
    )
    ap.add_argument(
        "--replot",
        nargs="+",
        default=None,
        help="only draw --plot from --json files of earlier runs",
    )
    ap.add_argument("--labels", nargs="*", default=[], help="legend names of trees, as ROOT=LABEL")
    args = ap.parse_args()
    if args.replot:
        rows = [
            json.loads(x)
            for f in args.replot
            for x in Path(f).read_text().splitlines()
            if x.strip()
        ]
        roots = list(dict.fromkeys(r["root"] for r in rows))
        labels = ["before", "after"] if len(roots) == 2 else [Path(r).name for r in roots]
        names = dict(zip(roots, labels, strict=True))
        names.update(dict(x.split("=", 1) for x in args.labels))
        plot(rows, Path(args.plot), names)
        return
    if args.child:
        print(json.dumps(run_child(args.child), default=str))
        return
    results = []
    for case in args.cases:
        for root in args.root:
            r = _run_case(case, root)
            if r is None:
                continue
            results.append(r)
            print(
                f"{case} [{root}]: {r['wall_s']:.2f} s wall, {r['peak_rss_MB']:.0f} MB peak RSS, "
                f"{r['flows']} flows ({r['fabric_flows']} on the fabric), {r['settles']} settles, "
                f"{r['events']} events, load {r['load1']:.2f}",
                flush=True,
            )
            if args.json:
                with open(args.json, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(r, default=str) + "\n")
    if args.plot:
        labels = ["before", "after"] if len(args.root) == 2 else [Path(r).name for r in args.root]
        plot(results, Path(args.plot), dict(zip(args.root, labels, strict=True)))


if __name__ == "__main__":
    main()
