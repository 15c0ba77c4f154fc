"""Engine speed: wall time of ``simulate`` on a synthetic 1F1B pipeline and on shipped scenarios.

Run: ``.venv/bin/python benchmarks/bench_run.py [--scenario NAME ...] [--fidelity flow]``.
Prints one line per case: ops simulated, collectives launched, flows, simulated step time and
wall seconds (build and simulate separately). Figures go to benchmarks/RESULTS.md (## engine).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from simulator.core.ir import Program, Workload
from simulator.core.vocab import CollectiveOp
from simulator.engine import simulate
from simulator.topology import topology_from_dict


def synthetic_cluster(nodes: int, gpus: int = 8) -> Any:
    """``nodes`` x ``gpus`` GPUs: NVSwitch inside a node, one 400 Gb/s NIC per GPU, one switch.

    Bandwidths are round H100-class figures for a speed benchmark, not a prediction.
    """
    nd: list[dict[str, Any]] = [{"name": "leaf", "kind": "switch"}]
    links: list[dict[str, Any]] = []
    ranks = []
    for n in range(nodes):
        nd.append({"name": f"n{n}.nvs", "kind": "nvswitch", "host": f"n{n}"})
        for g in range(gpus):
            gpu, nic = f"n{n}.g{g}", f"n{n}.nic{g}"
            nd += [
                {"name": gpu, "kind": "gpu", "host": f"n{n}"},
                {"name": nic, "kind": "nic", "host": f"n{n}"},
            ]
            links += [
                {
                    "a": gpu,
                    "b": f"n{n}.nvs",
                    "bandwidth": "450GB/s",
                    "latency": "1us",
                    "kind": "nvlink",
                },
                {"a": gpu, "b": nic, "bandwidth": "64GB/s", "latency": "1us", "kind": "pcie"},
                {
                    "a": nic,
                    "b": "leaf",
                    "bandwidth": "400Gbps",
                    "latency": "2us",
                    "kind": "infiniband",
                },
            ]
            ranks.append(gpu)
    return topology_from_dict(
        {"name": f"bench-{nodes}x{gpus}", "nodes": nd, "links": links, "ranks": ranks}
    )


def one_f_one_b(pp: int, tp: int, mbs: int, layers: int, act_B: float) -> Workload:
    """1F1B over ``pp`` stages (one node each), TP inside a node folded onto its rank 0."""
    progs = []
    for s in range(pp):
        rank = s * tp
        tp_group = tuple(range(rank, rank + tp))
        p = Program(rank=rank)
        warm = min(pp - s - 1, mbs)
        order = [("f", m) for m in range(warm)]
        f_next, b_next = warm, 0
        while b_next < mbs:
            if f_next < mbs:
                order.append(("f", f_next))
                f_next += 1
            order.append(("b", b_next))
            b_next += 1
        last = -1
        for kind, m in order:
            fwd = kind == "f"
            deps: tuple[int, ...] = (last,) if last >= 0 else ()
            src = s - 1 if fwd else s + 1
            if 0 <= src < pp:
                r = p.recv(
                    f"recv.{kind}.mb{m}",
                    peer=src * tp,
                    size_B=act_B,
                    tag=m + (0 if fwd else 10**6),
                    stream="pp.recv",
                    category="pp",
                    microbatch=m,
                )
                deps = (*deps, r)
            for layer in range(layers):
                for part in ("attn", "mlp"):
                    c = p.compute(
                        f"{kind}.l{layer}.{part}.mb{m}",
                        duration_s=(1 if fwd else 2) * 1e-4,
                        deps=deps,
                        category="fwd" if fwd else "bwd",
                        layer=layer,
                        microbatch=m,
                    )
                    last = p.collective(
                        f"tp.{kind}.l{layer}.{part}.mb{m}",
                        op=CollectiveOp.ALL_REDUCE,
                        group=tp_group,
                        size_B=act_B,
                        deps=(c,),
                        stream="tp",
                        category="tp",
                        layer=layer,
                        microbatch=m,
                    )
                    deps = (last,)
            dst = s + 1 if fwd else s - 1
            if 0 <= dst < pp:
                p.send(
                    f"send.{kind}.mb{m}",
                    peer=dst * tp,
                    size_B=act_B,
                    tag=m + (0 if fwd else 10**6),
                    deps=(last,),
                    stream="pp.send",
                    category="pp",
                    microbatch=m,
                    mirrors=[(rank + i, dst * tp + i) for i in range(1, tp)],
                )
        progs.append(p)
    return Workload(programs=progs, world=pp * tp, metadata={"bench": "1f1b"})


def bench_synthetic(fidelity: str, mbs: int) -> None:
    topo = synthetic_cluster(8)
    t0 = time.perf_counter()
    wl = one_f_one_b(pp=8, tp=8, mbs=mbs, layers=12, act_B=2 * 2048 * 12288)
    t1 = time.perf_counter()
    res = simulate(wl, topo, fidelity=fidelity, record=False)
    t2 = time.perf_counter()
    n_ops = sum(len(p) for p in wl.programs)
    print(
        f"synthetic 1F1B pp8 tp8 mb{mbs} 12 layers/stage, {fidelity}: {n_ops} ops, "
        f"step {res.step_time_s:.6g} s, build {t1 - t0:.2f} s, simulate {t2 - t1:.2f} s"
    )


def bench_scenario(name: str, fidelity: str | None) -> None:
    from simulator.build import build_workload
    from simulator.config import load_scenario
    from simulator.topology import load_topology

    t0 = time.perf_counter()
    sc = load_scenario(name)
    topo = load_topology(sc.topology)
    t1 = time.perf_counter()
    built = build_workload(sc, topo)
    t2 = time.perf_counter()
    fid = fidelity or str(sc.fidelity)
    res = simulate(
        built.workload,
        topo,
        backend=str(sc.backend),
        fidelity=fid,
        compute_model=built.compute_model,
        record=False,
    )
    t3 = time.perf_counter()
    n_ops = sum(len(p) for p in built.workload.programs)
    wl = built.workload
    print(
        f"{name} ({fid}): {len(wl.programs)} programs / {wl.world_size} ranks, "
        f"{n_ops} ops, step {res.step_time_s:.6g} s, load {t1 - t0:.2f} s, build {t2 - t1:.2f} s, "
        f"simulate {t3 - t2:.2f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", action="append", default=[], help="shipped scenario name")
    ap.add_argument("--fidelity", default=None)
    ap.add_argument("--mbs", type=int, default=64, help="micro-batches of the synthetic case")
    ap.add_argument("--no-synthetic", action="store_true")
    args = ap.parse_args()
    if not args.no_synthetic:
        bench_synthetic(args.fidelity or "flow", args.mbs)
    for name in args.scenario:
        bench_scenario(name, args.fidelity)


if __name__ == "__main__":
    main()
