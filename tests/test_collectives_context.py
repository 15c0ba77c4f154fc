"""Per-simulation state: caches live in a SimContext or a Transport, never at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import simpy
import yaml
from test_collectives_support import ideal_profile, star_topology

import simulator
from simulator.collectives import SimContext, Transport, load_backend, simulate_collective
from simulator.collectives.backend import BACKENDS_DIR
from simulator.core.errors import InputError
from simulator.network import Fabric
from simulator.topology.builders import cluster

GiB = float(1 << 30)


def test_a_backend_file_changed_on_disk_is_read_again(tmp_path: Path) -> None:
    raw = yaml.safe_load((BACKENDS_DIR / "nccl.yaml").read_text())
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw))
    topo = star_topology(4, bandwidth="10GB/s", latency="1us")
    before = simulate_collective(topo, "all_reduce", GiB, algo="ring", backend=str(path))
    eff = load_backend(str(path)).efficiency["ethernet"]
    raw["efficiency"]["ethernet"] = eff / 2
    path.write_text(yaml.safe_dump(raw))
    assert load_backend(str(path)).efficiency["ethernet"] == pytest.approx(eff / 2)
    after = simulate_collective(topo, "all_reduce", GiB, algo="ring", backend=str(path))
    assert after.time_s > 1.8 * before.time_s  # half the efficiency: about twice as long


def test_no_stale_routes_after_a_routing_change() -> None:
    topo = cluster(nodes=16, fabric="fat_tree", switch_radix=32)  # dmodk by default
    ctx = SimContext(topo, "nccl")
    dsts = range(16, 128)
    dmodk = [ctx.planner.path(0, d).links for d in dsts]
    ring = ctx.choose("all_reduce", range(0, 128, 8), GiB, "ring")
    topo.set_ecmp("hash")
    hashed = [ctx.planner.path(0, d).links for d in dsts]
    assert hashed == [topo.route(0, d) for d in dsts]
    assert hashed != dmodk
    again = ctx.choose("all_reduce", range(0, 128, 8), GiB, "ring")
    assert again is not ring  # resolved anew on the new routes
    routed = {lk for pl in again.planned for p in pl.paths for lk in p.links}
    expected = {
        lk
        for ph in again.schedule.phases
        for t in ph.flows
        for lk in topo.route(t.src, t.dst, t.channel)
    }
    assert routed == expected


def test_contexts_share_nothing_and_cache_within_a_simulation() -> None:
    topo = star_topology(4)
    a, b = SimContext(topo, "nccl"), SimContext(topo, "nccl")
    assert a.choose("all_reduce", (0, 1, 2, 3), GiB) is a.choose("all_reduce", (0, 1, 2, 3), GiB)
    assert a.choose("all_reduce", (0, 1, 2, 3), GiB) is not b.choose(
        "all_reduce", (0, 1, 2, 3), GiB
    )
    assert a.planner is a.planner and a.planner is not b.planner


def test_concurrency_slots_belong_to_one_transport() -> None:
    # gloo-like limit of one collective at a time per group: it holds inside a transport, and
    # two simulations (two transports on two environments) do not wait for each other.
    topo = star_topology(4)
    prof = ideal_profile(concurrency=1, base="1ms")
    ctx = SimContext(topo, prof)

    def run(n_transports: int) -> float:
        env = simpy.Environment()
        fabric = Fabric(env, topo.capacity_Bps)
        trs = [Transport(ctx, env, fabric) for _ in range(n_transports)]
        procs = [
            env.process(trs[i % n_transports].collective("all_reduce", (0, 1, 2, 3), 8.0))
            for i in range(2)
        ]
        env.run(until=env.all_of(procs))
        return env.now

    assert run(1) == pytest.approx(2 * run(2), rel=0.01)


#: module-level caches that stay, with why they are safe
_ALLOWED_CACHES = {
    ("hardware.py", "_catalog"): "the shipped hardware catalog, read-only package data",
    ("studies/published.py", "_shipped_topology"): "shipped topologies, read-only package data",
    ("studies/published.py", "_built_topology"): "shipped topologies, read-only package data",
    ("core/validated.py", "code_fingerprint"): "hash of the code this process runs, fixed",
}


def _module_state(path: Path) -> list[str]:
    found = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                if "cache" in ast.unparse(d):
                    found.append(node.name)
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        empty = (isinstance(value, ast.Dict) and not value.keys) or (
            isinstance(value, ast.List | ast.Set) and not value.elts
        )
        call = ast.unparse(value.func) if isinstance(value, ast.Call) else ""
        if empty or call.split(".")[-1] in {"WeakKeyDictionary", "WeakValueDictionary", "dict"}:
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target  # type: ignore[union-attr]
            found.append(ast.unparse(target))
    return found


def test_nothing_mutable_at_module_level() -> None:
    root = Path(simulator.__file__).parent
    state = {
        (str(p.relative_to(root)), name) for p in root.rglob("*.py") for name in _module_state(p)
    }
    assert state <= set(_ALLOWED_CACHES), sorted(state - set(_ALLOWED_CACHES))


def test_a_cached_choice_is_found_for_an_equal_group_and_bad_groups_still_raise() -> None:
    topo = star_topology(4)
    ctx = SimContext(topo, ideal_profile())
    first = ctx.choose("all_reduce", (0, 1, 2), 8.0)
    assert ctx.choose("all_reduce", [0, 1, 2], 8.0) is first  # a list equal to the tuple
    with pytest.raises(InputError, match="twice"):
        ctx.choose("all_reduce", (0, 1, 1), 8.0)
    with pytest.raises(InputError, match="out of range"):
        ctx.choose("all_reduce", (0, 9), 8.0)
