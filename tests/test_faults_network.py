"""Network faults: the oracles of issue 17 and the bad-input contract.

Oracles: a ring all-reduce whose bottleneck link is degraded by x has its busbw scaled by x;
downing one of two equal spine paths doubles a saturating all-to-all; a NIC down on an 8-rail
node moves its traffic onto the other 7 rails; flows in flight on a link that goes down finish
on the new path with their bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import simpy

from simulator.cli import main
from simulator.collectives import simulate_collective
from simulator.core.errors import InputError
from simulator.core.ir import CollectiveOp, Program, Workload
from simulator.engine import simulate
from simulator.faults.network import apply_network_faults
from simulator.faults.schema import FaultsConfig
from simulator.network import Fabric, FlowSpec
from simulator.topology import load_topology

LEAF_SPINE = """
name: leaf-spine-2x2
description: two leaves of four hosts, two spines, 2:1 oversubscribed (test fixture)
routing: {ecmp: dmodk}
nodes:
  - {name: h0, kind: cpu}
  - {name: h1, kind: cpu}
  - {name: h2, kind: cpu}
  - {name: h3, kind: cpu}
  - {name: h4, kind: cpu}
  - {name: h5, kind: cpu}
  - {name: h6, kind: cpu}
  - {name: h7, kind: cpu}
  - {name: leaf0, kind: switch}
  - {name: leaf1, kind: switch}
  - {name: spine0, kind: switch}
  - {name: spine1, kind: switch}
links:
  - {a: h0, b: leaf0, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: h1, b: leaf0, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: h2, b: leaf0, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: h3, b: leaf0, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: h4, b: leaf1, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: h5, b: leaf1, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: h6, b: leaf1, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: h7, b: leaf1, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: leaf0, b: spine0, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: leaf0, b: spine1, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: leaf1, b: spine0, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
  - {a: leaf1, b: spine1, bandwidth: 100Gbps, latency: 1us, kind: ethernet}
"""


@pytest.fixture
def leaf_spine(tmp_path: Path) -> object:
    p = tmp_path / "leaf-spine.yaml"
    p.write_text(LEAF_SPINE)
    return load_topology(str(p))


def faulted(topo: object, raw: dict) -> object:
    net = apply_network_faults(topo, FaultsConfig.model_validate(raw))  # type: ignore[arg-type]
    assert net is not None
    return net.at(0.0)


@pytest.mark.parametrize("x", [0.5, 0.25])
def test_ring_bottleneck_degraded_by_x_scales_busbw_by_x(x: float) -> None:
    topo = load_topology("ten-node-10gbe")
    size = 2**30
    kw = dict(algo="ring", backend="nccl", fidelity="flow", record=False)
    healthy = simulate_collective(topo, "all_reduce", size, **kw)
    slow = faulted(
        topo,
        {"links": [{"link": "node3.nic0<->switch0", "state": "degraded", "bandwidth_factor": x}]},
    )
    degraded = simulate_collective(slow, "all_reduce", size, **kw)
    # the bandwidth term scales by x; the per-step latency (2 x 9 steps x a few us) does not
    assert degraded.busbw_Bps / healthy.busbw_Bps == pytest.approx(x, rel=2e-4)


def _all_to_all(topo: object) -> float:
    return simulate_collective(topo, "all_to_all", 2**30, backend="nccl", record=False).time_s


def test_downing_one_of_two_spines_doubles_saturating_all_to_all(leaf_spine: object) -> None:
    t_both = _all_to_all(leaf_spine)
    t_one = _all_to_all(faulted(leaf_spine, {"switches": [{"node": "spine1"}]}))
    assert t_one / t_both == pytest.approx(2.0, rel=1e-3)
    # the same by links: every uplink of spine1 down
    t_links = _all_to_all(faulted(leaf_spine, {"links": [{"link": "leaf*<->spine1"}]}))
    assert t_links == pytest.approx(t_one, rel=1e-12)


def test_nic_down_moves_its_traffic_onto_the_other_seven_rails() -> None:
    topo = load_topology("dgx-a100-2node")
    nic_out = {k: topo.graph.edges[f"node0.nic{k}", "switch0"]["link_id"] for k in range(8)}
    kw = dict(algo="ring", backend="nccl", record=False)
    healthy = simulate_collective(topo, "all_reduce", 2**30, **kw)
    broken = simulate_collective(
        faulted(topo, {"nics": [{"node": "node0.nic3"}]}), "all_reduce", 2**30, **kw
    )
    before = sum(healthy.link_bytes_B[i] for i in nic_out.values())
    after = [broken.link_bytes_B[nic_out[k]] for k in range(8)]
    assert before > 0
    assert after[3] == 0.0
    assert sum(after) == pytest.approx(before, rel=1e-12)
    assert sum(1 for k in range(8) if after[k] > healthy.link_bytes_B[nic_out[k]]) >= 1


def test_link_down_mid_flow_reroutes_and_keeps_bytes() -> None:
    # two parallel paths 0 -> 1: links (0, 1) via a, (2, 3) via b; 100 B/s each
    env = simpy.Environment()
    fabric = Fabric(env, np.full(4, 100.0))
    done = fabric.start(FlowSpec((0, 1), 1000.0, src=0, dst=1))

    def fault() -> object:
        yield env.timeout(4.0)
        fabric.reroute({0}, lambda spec: (2, 3))

    env.process(fault())
    env.run()
    rec = done.value
    assert rec.end_s == pytest.approx(10.0)
    assert rec.links == (2, 3)
    np.testing.assert_allclose(fabric.link_bytes_B, [400.0, 400.0, 600.0, 600.0])


def test_capacity_change_mid_flow() -> None:
    env = simpy.Environment()
    fabric = Fabric(env, np.full(1, 100.0))
    done = fabric.start(FlowSpec((0,), 1000.0))

    def fault() -> object:
        yield env.timeout(2.0)
        fabric.set_capacity([0], [50.0])

    env.process(fault())
    env.run()
    assert done.value.end_s == pytest.approx(2.0 + 800.0 / 50.0)


def _a2a_workload(n: int) -> Workload:
    progs = []
    for r in range(n):
        p = Program(rank=r)
        p.collective("a2a", op=CollectiveOp.ALL_TO_ALL, group=tuple(range(n)), size_B=2**30)
        progs.append(p)
    return Workload(programs=progs)


def test_spine_down_during_the_step_lands_between_healthy_and_faulted(leaf_spine: object) -> None:
    wl = _a2a_workload(8)
    healthy = simulate(wl, leaf_spine).step_time_s
    one = simulate(wl, faulted(leaf_spine, {"switches": [{"node": "spine1"}]})).step_time_s
    net = apply_network_faults(
        leaf_spine,  # type: ignore[arg-type]
        FaultsConfig.model_validate({"switches": [{"node": "spine1", "at": healthy / 2}]}),
    )
    res = simulate(wl, leaf_spine, network=net)
    # half the bytes at full speed, the other half at half speed: 1.5x (flows keep their bytes)
    assert res.step_time_s == pytest.approx(1.5 * healthy, rel=1e-3)
    assert healthy < res.step_time_s < one


def test_unknown_targets_and_cuts_are_input_errors(leaf_spine: object) -> None:
    with pytest.raises(InputError, match=r"faults.links.0.link: no link .* 'leaf9->spine0'"):
        faulted(leaf_spine, {"links": [{"link": "leaf9->spine0"}]})
    with pytest.raises(InputError, match=r"faults.switches.0.node: no switch"):
        faulted(leaf_spine, {"switches": [{"node": "spine7"}]})
    with pytest.raises(InputError, match=r"cut the job apart: ranks 0-3 \| ranks 4-7"):
        faulted(leaf_spine, {"switches": [{"node": "spine*"}]})


SCENARIO = """
name: tiny-dp8
topology: dgx-a100
model: {name: tiny, layers: 2, hidden: 256, heads: 4, vocab: 1024}
training: {global_batch: 16, micro_batch: 2, seq_len: 64, dtype: fp32}
strategy: {dp: 8}
"""


@pytest.mark.parametrize(
    ("override", "expect"),
    [
        (
            "faults.slow_ranks=[{ranks: 9, compute_factor: 2}]",
            "faults.slow_ranks.0.ranks: no rank 9",
        ),
        ("faults.jitter.sigma=-1", "faults.jitter.sigma"),
        ("faults.jitter.distribution=cauchy", "faults.jitter.distribution"),
        ("faults.nics=[{node: node0.nic9}]", "faults.nics.0.node: no nic node"),
        ("faults.links=[{link: 99999}]", "faults.links.0.link: no link 99999"),
        ("faults.switches=[{node: node0.nvswitch}]", "cut the job apart"),
        ("faults.typo=1", "faults.typo: unknown key"),
    ],
)
def test_run_bad_faults_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, expect: str
) -> None:
    p = tmp_path / "tiny.yaml"
    p.write_text(SCENARIO)
    assert main(["run", str(p), "--set", override, "--json"]) == 2
    err = capsys.readouterr().err
    assert expect in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_collective_faults_flag(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["collective", "--topology", "dgx-a100-2node", "--op", "all_reduce", "--size", "1GiB"]
    assert main([*args, "--faults", "{nics: [{node: node0.nic*}]}"]) == 2
    assert "cut the job apart: ranks 0-7 | ranks 8-15" in capsys.readouterr().err
    assert main([*args, "--faults", "{jitter: {sigma: 0.1}}"]) == 2
    assert (
        main(
            [
                *args,
                "--faults",
                "{links: [{link: node0.nic0<->switch0, state: degraded, bandwidth_factor: 0.5}]}",
                "--json",
            ]
        )
        == 0
    )


def test_out_marks_faults_and_lists_rerouted_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import json

    p = tmp_path / "tiny.yaml"
    p.write_text(
        SCENARIO.replace("dgx-a100\n", "dgx-a100-2node\n")
        .replace("dp: 8", "dp: 16")
        .replace("global_batch: 16", "global_batch: 32")
    )
    out = tmp_path / "out"
    sets = ["--set", "faults.nics=[{node: node0.nic3, at: 0.0}]"]
    assert (
        main(
            [
                "run",
                str(p),
                *sets,
                "--set",
                "faults.slow_ranks=[{ranks: 1, compute_factor: 2}]",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    capsys.readouterr()
    rows = list(csv.DictReader((out / "links_faults.csv").open()))
    by = {(r["src"], r["dst"]): float(r["rerouted_B"]) for r in rows}
    assert by[("node0.nic3", "switch0")] < 0  # its bytes left it
    gained = sum(
        v for (s, d), v in by.items() if s.startswith("node0.nic") and d == "switch0" and v > 0
    )
    assert gained == pytest.approx(-by[("node0.nic3", "switch0")], rel=1e-9)
    events = json.loads((out / "timeline.json").read_text())["traceEvents"]
    names = {e["name"] for e in events if e.get("ph") in ("X", "i")}
    assert "nic node0.nic3 down" in names and "slow x2" in names
