"""The emulated-cluster rig: planning (no root) and real namespaces (root + iproute2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.core.errors import InputError
from simulator.rig import netns
from simulator.rig.cluster import Rig, burst_B, clean, launch_on_rig, plan_rig

REASON = netns.unavailable_reason()
needs_rig = pytest.mark.skipif(REASON is not None, reason=f"rig unavailable: {REASON}")


def test_plan_shapes_every_direction_exactly_once() -> None:
    plan = plan_rig("rig-4host-2rack", run_id="abc123")
    assert [h.ns for h in plan.hosts] == [f"cs-abc123-h{r}" for r in range(4)]
    assert len(plan.switches) == 2
    # 4 host links + 1 inter-switch link, each with one shaper per end (= per direction).
    shapers = [(ln.a_ns, ln.a_dev) for ln in plan.links] + [
        (ln.b_ns, ln.b_dev) for ln in plan.links
    ]
    assert len(shapers) == len(set(shapers)) == 10
    uplink = next(ln for ln in plan.links if ln.a_is_switch and ln.b_is_switch)
    assert uplink.rate_ab_Bps == uplink.rate_ba_Bps == pytest.approx(400e6 / 8)
    host_links = [ln for ln in plan.links if not ln.a_is_switch]
    assert all(ln.rate_ab_Bps == pytest.approx(1e9 / 8) for ln in host_links)
    assert len({h.address for h in plan.hosts}) == 4


def test_burst_holds_four_frames_or_a_quarter_ms() -> None:
    assert burst_B(10e6, 9000) == 4 * 9014
    assert burst_B(125e6, 1500) == 31_250


def _write(tmp_path: Path, body: str) -> str:
    p = tmp_path / "t.yaml"
    p.write_text(body)
    return str(p)


def test_plan_rejects_host_with_two_nics(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """name: bad
nodes:
  - {name: h0, kind: cpu}
  - {name: h1, kind: cpu}
  - {name: s0, kind: switch}
  - {name: s1, kind: switch}
links:
  - {a: h0, b: s0, bandwidth: 1Gbps, latency: 5us, kind: ethernet}
  - {a: h0, b: s1, bandwidth: 1Gbps, latency: 5us, kind: ethernet}
  - {a: h1, b: s0, bandwidth: 1Gbps, latency: 5us, kind: ethernet}
""",
    )
    with pytest.raises(InputError, match="exactly one NIC"):
        plan_rig(path)


def test_plan_rejects_gpu_ranks(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """name: gpus
nodes: [{name: g0, kind: gpu}, {name: g1, kind: gpu}, {name: s0, kind: switch}]
links:
  - {a: g0, b: s0, bandwidth: 1Gbps, latency: 5us, kind: ethernet}
  - {a: g1, b: s0, bandwidth: 1Gbps, latency: 5us, kind: ethernet}
""",
    )
    with pytest.raises(InputError, match="cpu hosts only"):
        plan_rig(path)


def test_plan_notes_latencies_the_rig_cannot_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user's 2 ms links plan fine, with a note: the rig has no netem (7 us links do not)."""
    import warnings

    from simulator.cli import main
    from simulator.rig.cluster import RigLatencyNote

    body = """name: far
nodes: [{name: h0, kind: cpu}, {name: h1, kind: cpu}, {name: s0, kind: switch}]
links:
  - {a: h0, b: s0, bandwidth: 1Gbps, latency: LAT, kind: ethernet}
  - {a: h1, b: s0, bandwidth: 1Gbps, latency: 7us, kind: ethernet}
"""
    far = tmp_path / "far.yaml"
    far.write_text(body.replace("LAT", "2ms"))
    with pytest.warns(RigLatencyNote, match=r"2 of 4 directed links .*up to 2000 us, h0->s0"):
        plan_rig(far)
    near = tmp_path / "near.yaml"
    near.write_text(body.replace("LAT", "7us"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan_rig(near)
    assert main(["rig", "plan", str(far)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("commsim rig: note: far: links: 2 of 4")


def test_plan_errors_name_the_users_file(tmp_path: Path) -> None:
    """A wiring error in a hand-written file names that file, not only the topology's name."""
    path = _write(
        tmp_path,
        """name: lonely
nodes: [{name: h0, kind: cpu}, {name: h1, kind: cpu}, {name: h2, kind: cpu},
        {name: s, kind: switch}]
links:
  - {a: h0, b: s, bandwidth: 1Gbps, latency: 7us, kind: ethernet}
  - {a: h1, b: s, bandwidth: 1Gbps, latency: 7us, kind: ethernet}
  - {a: h2, b: s, bandwidth: 1Gbps, latency: 7us, kind: ethernet}
ranks: [h0, h1]
""",
    )
    with pytest.raises(InputError) as err:
        plan_rig(path)
    assert err.value.file == path and "['h2'] are not ranks" in str(err.value)


def test_plan_notes_more_hosts_than_cores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """16 hosts on 2 cores plan, with one note saying every hop can wait for a core."""
    import warnings

    from simulator.rig.cluster import RigCoresNote

    hosts = [f"h{i}" for i in range(16)]
    body = "name: many\nnodes:\n" + "".join(f"  - {{name: {h}, kind: cpu}}\n" for h in hosts)
    body += "  - {name: s, kind: switch}\nlinks:\n"
    body += "".join(
        f"  - {{a: {h}, b: s, bandwidth: 400Mbit/s, latency: 7us, kind: ethernet}}\n" for h in hosts
    )
    path = _write(tmp_path, body)
    monkeypatch.setattr("simulator.collectives.calibrated.host_cores", lambda: 2)
    with pytest.warns(RigCoresNote, match="many: 16 hosts share this machine's 2 cores"):
        plan = plan_rig(path)
    assert len(plan.hosts) == 16
    monkeypatch.setattr("simulator.collectives.calibrated.host_cores", lambda: 16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan_rig(path)


def test_not_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(netns.RigUnavailable, match="root"):
        netns.check_support()


@needs_rig
def test_rate_limit_is_enforced() -> None:
    from simulator.rig.probe import probe_pair

    with Rig("rig-2host") as rig:
        got = probe_pair(rig, 0, 1, 16 << 20)
    # 400 Mbit/s configured; an unshaped veth carries several Gbit/s. Generous band: behaviour.
    assert 0.6 * 50e6 < got["goodput_Bps"] < 1.05 * 50e6


@needs_rig
def test_teardown_when_body_raises() -> None:
    rig = Rig("rig-2host")
    prefix = rig.plan.prefix
    with pytest.raises(RuntimeError, match="boom"), rig:
        assert sorted(netns.list_netns(prefix)) == sorted(rig.plan.namespaces())
        raise RuntimeError("boom")
    assert netns.list_netns(prefix) == []


@needs_rig
def test_teardown_on_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "hold.py"
    script.write_text(
        "import sys, time\n"
        "from simulator.rig.cluster import Rig\n"
        "with Rig('rig-2host') as rig:\n"
        "    print(rig.plan.prefix, flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    prefix = proc.stdout.readline().strip()
    assert prefix.startswith("cs-") and netns.list_netns(prefix)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert netns.list_netns(prefix) == []


@needs_rig
def test_launch_sets_rank_environment() -> None:
    code = (
        "import os, socket; e = os.environ;"
        "print(e['RANK'], e['WORLD_SIZE'], e['MASTER_ADDR'], e['MASTER_PORT'],"
        " e['GLOO_SOCKET_IFNAME'], socket.if_nameindex()[-1][1])"
    )
    results = launch_on_rig("rig-2host", lambda r: [sys.executable, "-c", code], {}, 30)
    rows = [res.stdout.split() for res in results]
    assert [res.returncode for res in results] == [0, 0]
    assert [row[0] for row in rows] == ["0", "1"]
    assert {row[1] for row in rows} == {"2"}
    assert {row[2] for row in rows} == {plan_rig("rig-2host").hosts[0].address}
    assert {row[4] for row in rows} == {"eth0"} == {row[5] for row in rows}


@needs_rig
def test_failed_rank_does_not_hang_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("simulator.rig.cluster.FAILURE_GRACE_S", 0.5)
    t0 = time.monotonic()
    results = launch_on_rig(
        "rig-2host",
        lambda r: [
            sys.executable,
            "-c",
            f"import sys,time; time.sleep(0 if {r} else 60); sys.exit({r})",
        ],
        {},
        120,
    )
    assert results[1].returncode == 1
    assert results[0].returncode == -signal.SIGKILL
    assert time.monotonic() - t0 < 60


@needs_rig
def test_clean_removes_leftovers_by_prefix() -> None:
    name = "cs-leftover-test"
    netns.add_netns(name)
    try:
        assert clean("cs-leftover-") == [name]
        assert netns.list_netns("cs-leftover-") == []
    finally:
        netns.del_netns(name)
    with pytest.raises(InputError):
        clean("other-")


@needs_rig
def test_ranks_run_at_the_rig_niceness() -> None:
    code = "import os; print(os.nice(0))"
    results = launch_on_rig("rig-2host", lambda r: [sys.executable, "-c", code], {}, 30)
    from simulator.rig.cluster import DEFAULT_NICE

    expected = os.nice(0) + (DEFAULT_NICE or 0)
    assert [int(res.stdout) for res in results] == [max(-20, expected)] * 2
