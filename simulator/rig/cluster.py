"""The emulated cluster: a topology YAML made real with network namespaces, veths and bridges.

Every ``cpu`` endpoint (rank) of the topology becomes one network namespace with one NIC
(``eth0``); every other node (a switch) becomes a namespace holding a Linux bridge (``br0``).
Each physical link becomes a veth pair whose two ends live in the two namespaces. Each
direction of a link is rate-limited exactly once, on the egress of its sending end, with a
``tbf`` qdisc at the topology's ``bandwidth_Bps`` of that direction: a host's NIC shapes what
the host sends, the switch's port shapes what it forwards to the host, and a switch-to-switch
link is shaped on both of its ends. No netem on these kernels: latency cannot be added.

Namespace names are ``cs-<run_id>-h<i>`` (host of rank i) and ``cs-<run_id>-s<j>`` (switch j);
device names are per namespace, so nothing is created in the root namespace and two rigs never
collide. :class:`Rig` builds on enter and tears down on exit, also when the body raises or the
process gets SIGINT/SIGTERM; :func:`clean` removes what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from simulator.core.errors import InputError, InputNote
from simulator.rig import netns
from simulator.topology import load_topology

#: Device name of every host's NIC inside its namespace (what ``GLOO_SOCKET_IFNAME`` names).
HOST_DEV = "eth0"
#: Device name of the bridge inside a switch's namespace.
BRIDGE_DEV = "br0"
#: Default MTU of every veth: jumbo frames, as cluster fabrics run them. Fewer packets cost the
#: 2 shared CPU cores less; measured TCP goodput on a 400 Mbit/s shaped link was 396.5 Mbit/s
#: at MTU 9000 vs 382 at MTU 1500 (python socket stream, 150 MiB). The achieved fraction of the
#: configured rate is fitted by calibration, not assumed.
DEFAULT_MTU_B = 9000
#: Ethernet header bytes a tbf counts on top of the MTU-sized IP packet.
ETH_HEADER_B = 14
#: Longest a packet may queue in a shaper before it is dropped. 20 ms at 400 Mbit/s holds 1 MB,
#: enough for a few TCP windows, so a shaped link stays busy (throughput, not latency, matters).
QUEUE_S = 0.020
#: Default port of rank 0's rendezvous store (each namespace has its own port space).
DEFAULT_MASTER_PORT = 29500
#: Scheduling niceness of the ranks' processes. The rig is a measuring instrument on a shared
#: machine: at -10 the ranks win the CPU over ordinary (nice 0) programs, so other work on the
#: machine perturbs the measured step times less. ``None`` runs them at the caller's priority.
DEFAULT_NICE: int | None = -10
#: One-way latency of one rig link (veth + bridge), s: a python TCP ping-pong measured 26.6 us
#: round trip over 2 links (2026-11-28, rig-2host; the shipped rig topologies say 7us).
RIG_LINK_LATENCY_S = 6.7e-6
#: Grace period for the other ranks once one rank has failed, before they are killed.
FAILURE_GRACE_S = 10.0


class RigTimeout(RuntimeError):
    """Ranks did not finish within ``timeout_s``; all were killed. ``results`` holds outputs."""

    def __init__(self, message: str, results: list[subprocess.CompletedProcess[str]]) -> None:
        super().__init__(message)
        self.results = results


@dataclass(frozen=True)
class RigHost:
    """The namespace of rank ``rank`` (topology node ``node``) and its NIC address."""

    rank: int
    node: str
    ns: str
    address: str
    dev: str = HOST_DEV


@dataclass(frozen=True)
class RigSwitch:
    """The namespace holding the bridge of topology node ``node``."""

    node: str
    ns: str
    bridge: str = BRIDGE_DEV


@dataclass(frozen=True)
class RigLink:
    """One physical link as a veth pair; each direction shaped on its sender's egress."""

    a: str
    b: str
    a_ns: str
    a_dev: str
    b_ns: str
    b_dev: str
    a_is_switch: bool
    b_is_switch: bool
    rate_ab_Bps: float
    rate_ba_Bps: float


@dataclass(frozen=True)
class RigPlan:
    """Everything a rig will create, computed from a topology without touching the system."""

    run_id: str
    topology_name: str
    hosts: tuple[RigHost, ...]
    switches: tuple[RigSwitch, ...]
    links: tuple[RigLink, ...]
    mtu_B: int

    @property
    def prefix(self) -> str:
        """The prefix every namespace of this run starts with."""
        return f"{netns.NETNS_PREFIX}{self.run_id}-"

    def namespaces(self) -> list[str]:
        """All namespaces of this plan, hosts first."""
        return [h.ns for h in self.hosts] + [s.ns for s in self.switches]


def burst_B(rate_Bps: float, mtu_B: int) -> int:
    """Token-bucket size for a shaper at ``rate_Bps``: four full frames, or 0.25 ms of the rate.

    The bucket lets that many bytes leave at line speed, so a message of ``S`` bytes takes
    about ``(S - burst) / rate`` instead of ``S / rate``: the smaller, the truer to a real
    link's serialization, but too small a bucket loses rate to timer wake-ups. Measured with
    python TCP streams on this rig (2026-11-28, `commsim rig check`): at MTU 9000 and 1 Gbit/s
    a bucket of 2 frames (18 kB) reached 927-946 Mbit/s, of 4 frames (36 kB) 991.9, of 1 ms
    (125 kB) 986-992; at 400 Mbit/s 4 frames gave 396.6 (TCP's ceiling at MTU 9000: 992.7 and
    397.1). At MTU 1500 and 1 Gbit/s a 0.25 ms bucket reached 892, a 1 ms bucket 955.5 (of 956).
    """
    frame_B = mtu_B + ETH_HEADER_B
    return int(max(4 * frame_B, rate_Bps * 0.25e-3))


def new_run_id() -> str:
    """A fresh 6-hex-digit run id (namespaces ``cs-<id>-...`` fit the 15+ char limits)."""
    return secrets.token_hex(3)


def _load(topology: Any) -> Any:
    if isinstance(topology, str | Path):
        return load_topology(str(topology))
    return topology


def plan_rig(topology: Any, *, run_id: str | None = None, mtu_B: int = DEFAULT_MTU_B) -> RigPlan:
    """Plan the rig of ``topology`` (a ``Topology``, or a name/path for ``load_topology``).

    Raises :class:`InputError` when the topology cannot be emulated: a rank that is not a
    ``cpu`` host, a host with other than one link, switches not joined as a tree.
    """
    topo = _load(topology)
    # errors name the file the user wrote when there is one, else the topology's name
    name = str(topology) if isinstance(topology, str | Path) else str(getattr(topo, "name", ""))
    graph = topo.graph
    rid = run_id or new_run_id()
    prefix = f"{netns.NETNS_PREFIX}{rid}-"
    ranks: list[str] = list(topo.ranks)
    kinds = {n: str(graph.nodes[n].get("kind", "")) for n in graph.nodes}
    endpoints = _check_hosts(ranks, kinds, name)
    switch_nodes = [n for n in graph.nodes if n not in endpoints]
    rates = {(str(lk.src), str(lk.dst)): float(lk.bandwidth_Bps) for lk in topo.links}
    pairs = _physical_pairs(rates, ranks + switch_nodes, name)
    _check_wiring(pairs, list(graph.nodes), endpoints, ranks, switch_nodes, name)
    hosts = tuple(
        RigHost(rank=r, node=node, ns=f"{prefix}h{r}", address=f"10.233.{r // 250}.{r % 250 + 1}")
        for r, node in enumerate(ranks)
    )
    switches = tuple(RigSwitch(node=n, ns=f"{prefix}s{j}") for j, n in enumerate(switch_nodes))
    ns_of = {h.node: h.ns for h in hosts} | {s.node: s.ns for s in switches}
    links = _rig_links(pairs, rates, ns_of, endpoints, switch_nodes)
    title = str(getattr(topo, "name", "topology"))
    _note_latency(topo, title)
    _note_cores(len(ranks), title)
    return RigPlan(rid, title, hosts, switches, links, int(mtu_B))


class RigLatencyNote(InputNote):
    """A topology asks for link latencies the rig cannot add (no netem)."""


def _note_latency(topo: Any, name: str) -> None:
    """Warn (:class:`RigLatencyNote`) when a link's latency is over twice what a rig link
    takes (:data:`RIG_LINK_LATENCY_S`): predictions read the file's latency, the rig's
    measurements will not have it."""
    slow = [lk for lk in topo.links if float(lk.latency_s) > 2 * RIG_LINK_LATENCY_S]
    if slow:
        worst = max(slow, key=lambda lk: float(lk.latency_s))
        warnings.warn(
            f"{name}: links: {len(slow)} of {len(topo.links)} directed links ask for more "
            f"latency than the rig has (up to {float(worst.latency_s) * 1e6:.4g} us, "
            f"{worst.src}->{worst.dst}); the rig cannot add latency (no netem), each of its "
            f"links takes about {RIG_LINK_LATENCY_S * 1e6:.2g} us: predictions use the file's "
            "latency, measurements will not",
            RigLatencyNote,
            stacklevel=3,
        )


class RigCoresNote(InputNote):
    """A rig with more hosts than the machine has cores (every host is a local process)."""


def _note_cores(n_hosts: int, name: str) -> None:
    """Warn (:class:`RigCoresNote`) when the rig's hosts outnumber this machine's cores: each
    host is a process here, so every hop of a small collective can wait for a core (on 2
    cores, 1.0-1.6 ms a hop with 3-8 hosts, docs/rig.md "More ranks than cores"), and hosts
    compute slower than alone."""
    from simulator.collectives.calibrated import host_cores

    cores = host_cores()
    if n_hosts > cores:
        warnings.warn(
            f"{name}: {n_hosts} hosts share this machine's {cores} cores: each hop of a "
            "collective can wait for a core (1-2 ms a hop measured on 2 cores with 3-8 hosts, "
            "docs/rig.md 'More ranks than cores'), so messages below about 1 MiB take "
            "milliseconds, and hosts compute slower than alone",
            RigCoresNote,
            stacklevel=3,
        )


def _check_hosts(ranks: list[str], kinds: dict[str, str], name: str) -> set[str]:
    """Every rank a ``cpu`` host, every endpoint a rank, at most 250; the endpoints."""
    for r, node in enumerate(ranks):
        if kinds[node] != "cpu":
            raise InputError(
                f"rank {r} is node {node!r} of kind {kinds[node]!r}; "
                "the rig emulates cpu hosts only",
                file=name,
                field="nodes",
            )
    endpoints = {n for n, k in kinds.items() if k in ("cpu", "gpu")}
    extra = endpoints - set(ranks)
    if extra:
        raise InputError(f"endpoints {sorted(extra)} are not ranks", file=name, field="ranks")
    if len(ranks) > 250:
        raise InputError("the rig supports at most 250 hosts", file=name, field="nodes")
    return endpoints


def _physical_pairs(
    rates: dict[tuple[str, str], float], nodes_in_order: list[str], name: str
) -> list[tuple[str, str]]:
    """Physical links: the two directed links of each pair merged, endpoints in ``order``."""
    order = {n: i for i, n in enumerate(nodes_in_order)}
    pairs: list[tuple[str, str]] = []
    for src, dst in rates:
        if (dst, src) not in rates:
            raise InputError(
                f"link {src}->{dst} has no reverse direction", file=name, field="links"
            )
        key = (src, dst) if order[src] <= order[dst] else (dst, src)
        if key not in pairs:
            pairs.append(key)
    return pairs


def _check_wiring(
    pairs: list[tuple[str, str]],
    nodes: list[str],
    endpoints: set[str],
    ranks: list[str],
    switch_nodes: list[str],
    name: str,
) -> None:
    """One NIC per host, no host-to-host link, switches joined as one tree."""
    degree: dict[str, int] = dict.fromkeys(nodes, 0)
    for a, b in pairs:
        degree[a] += 1
        degree[b] += 1
        if a in endpoints and b in endpoints:
            raise InputError(
                f"hosts {a} and {b} are linked directly; join them through a switch",
                file=name,
                field="links",
            )
    for node in ranks:
        if degree[node] != 1:
            raise InputError(
                f"host {node!r} has {degree[node]} links; the rig needs exactly one NIC per host",
                file=name,
                field="links",
            )
    sw_edges = [(a, b) for a, b in pairs if a not in endpoints and b not in endpoints]
    if len(sw_edges) != max(0, len(switch_nodes) - 1) or not _connected(switch_nodes, sw_edges):
        raise InputError(
            "switches must form one tree (bridges without spanning tree cannot hold loops)",
            file=name,
            field="links",
        )


def _rig_links(
    pairs: list[tuple[str, str]],
    rates: dict[tuple[str, str], float],
    ns_of: dict[str, str],
    endpoints: set[str],
    switch_nodes: list[str],
) -> tuple[RigLink, ...]:
    """A veth pair per physical link: a host's end is its NIC, a switch's ends are numbered
    ports in link order."""
    port_no: dict[str, int] = dict.fromkeys(switch_nodes, 0)

    def dev_for(node: str) -> str:
        if node in endpoints:
            return HOST_DEV
        port_no[node] += 1
        return f"p{port_no[node] - 1}"

    links = []
    for a, b in pairs:
        a_dev = dev_for(a)
        links.append(
            RigLink(
                a=a,
                b=b,
                a_ns=ns_of[a],
                a_dev=a_dev,
                b_ns=ns_of[b],
                b_dev=dev_for(b),
                a_is_switch=a not in endpoints,
                b_is_switch=b not in endpoints,
                rate_ab_Bps=rates[(a, b)],
                rate_ba_Bps=rates[(b, a)],
            )
        )
    return tuple(links)


def _connected(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> bool:
    if not nodes:
        return True
    adj: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    seen = {nodes[0]}
    stack = [nodes[0]]
    while stack:
        for m in adj[stack.pop()] - seen:
            seen.add(m)
            stack.append(m)
    return len(seen) == len(nodes)


def build(plan: RigPlan) -> None:
    """Create every namespace, bridge, veth, address and shaper of ``plan``.

    On failure, whatever was created stays; callers tear down with :func:`teardown`.
    """
    for ns in plan.namespaces():
        netns.add_netns(ns)
    for sw in plan.switches:
        netns.add_bridge(sw.ns, sw.bridge)
    for ln in plan.links:
        netns.add_veth(ln.a_ns, ln.a_dev, ln.b_ns, ln.b_dev, mtu_B=plan.mtu_B)
        for ns, dev, is_switch, rate in (
            (ln.a_ns, ln.a_dev, ln.a_is_switch, ln.rate_ab_Bps),
            (ln.b_ns, ln.b_dev, ln.b_is_switch, ln.rate_ba_Bps),
        ):
            if is_switch:
                netns.attach(ns, dev, BRIDGE_DEV)
            netns.shape_egress(
                ns, dev, rate_Bps=rate, burst_B=burst_B(rate, plan.mtu_B), queue_s=QUEUE_S
            )
            netns.link_up(ns, dev)
    for h in plan.hosts:
        netns.add_address(h.ns, h.dev, f"{h.address}/16")


def teardown(plan: RigPlan) -> list[str]:
    """Delete every namespace of ``plan`` (killing what runs inside); return those left over.

    Deleting a namespace removes its veth ends and bridge, so nothing else needs undoing.
    """
    for ns in plan.namespaces():
        netns.del_netns(ns)
    return netns.list_netns(plan.prefix)


def clean(prefix: str = netns.NETNS_PREFIX) -> list[str]:
    """Remove every namespace whose name starts with ``prefix``; return the names removed.

    For leftovers of runs that were killed with SIGKILL (which no handler can catch).
    """
    if not prefix.startswith(netns.NETNS_PREFIX):
        raise InputError(f"prefix must start with {netns.NETNS_PREFIX!r}", field="prefix")
    names = netns.list_netns(prefix)
    for ns in names:
        netns.del_netns(ns)
    return names


class Rig:
    """Context manager: the rig of ``topology`` exists inside the ``with`` block.

    >>> with Rig("rig-2host") as rig:                                      # doctest: +SKIP
    ...     results = rig.launch(lambda r: ["python", "train.py"], {}, timeout_s=60)

    SIGINT/SIGTERM inside the block raise ``KeyboardInterrupt``/``SystemExit`` (when entered
    from the main thread), so the rig is torn down before the process ends.
    """

    def __init__(
        self,
        topology: Any,
        *,
        run_id: str | None = None,
        mtu_B: int = DEFAULT_MTU_B,
        master_port: int = DEFAULT_MASTER_PORT,
        nice: int | None = DEFAULT_NICE,
    ) -> None:
        self.topology = _load(topology)
        self.nice = nice
        self.plan = plan_rig(self.topology, run_id=run_id, mtu_B=mtu_B)
        self.master_port = master_port
        self._old_handlers: dict[int, Any] = {}
        self._built = False

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> Rig:
        netns.check_support()
        self._install_handlers()
        try:
            build(self.plan)
            self._built = True
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Tear the rig down (idempotent) and restore the signal handlers."""
        try:
            left = teardown(self.plan)
            if left:
                raise netns.NetnsCommandError(f"namespaces left after teardown: {left}")
        finally:
            self._built = False
            self._restore_handlers()

    def _install_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[sig] = signal.signal(sig, on_signal)

    def _restore_handlers(self) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._old_handlers.clear()

    # -- running commands ----------------------------------------------------------------
    @property
    def world_size(self) -> int:
        """Number of ranks (= hosts)."""
        return len(self.plan.hosts)

    def host(self, rank: int) -> RigHost:
        """Namespace, device and address of ``rank``."""
        return self.plan.hosts[rank]

    def rank_env(self, rank: int, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment rank ``rank`` runs with: ours, then ``env``, then the rig's."""
        out = dict(os.environ)
        out.update(env or {})
        out.update(
            {
                "MASTER_ADDR": self.plan.hosts[0].address,
                "MASTER_PORT": str(self.master_port),
                "RANK": str(rank),
                "LOCAL_RANK": "0",
                "WORLD_SIZE": str(self.world_size),
                "LOCAL_WORLD_SIZE": "1",
                "GLOO_SOCKET_IFNAME": self.plan.hosts[rank].dev,
                "TP_SOCKET_IFNAME": self.plan.hosts[rank].dev,
                "COMMSIM_RIG_RUN_ID": self.plan.run_id,
            }
        )
        return out

    def popen(
        self,
        rank: int,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        stdout: IO[Any] | int | None = subprocess.PIPE,
        stderr: IO[Any] | int | None = subprocess.PIPE,
    ) -> subprocess.Popen[str]:
        """Start ``argv`` inside rank ``rank``'s namespace (its own process group).

        With ``nice`` set (default :data:`DEFAULT_NICE`), the command runs under ``nice -n``.
        """
        if not self._built:
            raise RuntimeError("the rig is not built; use it inside `with Rig(...)`")
        full = list(argv)
        nice_bin = shutil.which("nice")
        if self.nice is not None and nice_bin is not None:
            full = [nice_bin, "-n", str(self.nice), *full]
        return subprocess.Popen(
            netns.exec_argv(self.plan.hosts[rank].ns, full),
            env=self.rank_env(rank, env),
            stdout=stdout,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )

    def launch(
        self,
        argv_for_rank: Callable[[int], list[str]],
        env: Mapping[str, str] | None = None,
        timeout_s: float = 600.0,
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run ``argv_for_rank(r)`` for every rank at once, each in its host's namespace.

        Returns one ``CompletedProcess`` per rank (stdout/stderr as text). When a rank fails,
        the others get :data:`FAILURE_GRACE_S` to finish and are then killed (returncode
        -9). Raises :class:`RigTimeout` (all ranks killed) after ``timeout_s`` seconds.
        """
        n = self.world_size
        with contextlib.ExitStack() as stack:
            outs = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in range(n)]
            errs = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in range(n)]
            argvs = [list(argv_for_rank(r)) for r in range(n)]
            procs: list[subprocess.Popen[str]] = []
            try:
                for r in range(n):
                    procs.append(self.popen(r, argvs[r], env, stdout=outs[r], stderr=errs[r]))
                timed_out = _wait_all(procs, timeout_s)
            finally:
                for p in procs:
                    _kill_group(p)
            results = []
            for r, p in enumerate(procs):
                outs[r].seek(0)
                errs[r].seek(0)
                results.append(
                    subprocess.CompletedProcess(
                        argvs[r], p.returncode, outs[r].read(), errs[r].read()
                    )
                )
        if timed_out:
            raise RigTimeout(f"ranks did not finish within {timeout_s:g} s; killed", results)
        return results

    def iter_hosts(self) -> Iterator[RigHost]:
        """The hosts in rank order."""
        return iter(self.plan.hosts)


def _wait_all(procs: Sequence[subprocess.Popen[str]], timeout_s: float) -> bool:
    """Wait for all; on a failure give the rest a grace period. True if it timed out."""
    deadline = time.monotonic() + timeout_s
    failed_at: float | None = None
    while True:
        codes = [p.poll() for p in procs]
        if all(c is not None for c in codes):
            return False
        now = time.monotonic()
        if failed_at is None and any(c not in (None, 0) for c in codes):
            failed_at = now
        if failed_at is not None and now - failed_at > FAILURE_GRACE_S:
            return False
        if now > deadline:
            return True
        time.sleep(0.02)


def _kill_group(p: subprocess.Popen[str]) -> None:
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def launch_on_rig(
    topology: Any,
    argv_for_rank: Callable[[int], list[str]],
    env: Mapping[str, str] | None = None,
    timeout_s: float = 600.0,
) -> list[subprocess.CompletedProcess[str]]:
    """Build the rig of ``topology``, run one command per rank in it, tear it down.

    Rank r runs ``argv_for_rank(r)`` inside host r's namespace with ``MASTER_ADDR`` (rank 0's
    address), ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
    ``GLOO_SOCKET_IFNAME`` (the host's veth) set on top of ``env``. See :meth:`Rig.launch`.
    Raises :class:`~simulator.rig.netns.RigUnavailable` when no rig can be built here.
    """
    with Rig(topology) as rig:
        return rig.launch(argv_for_rank, env, timeout_s)
