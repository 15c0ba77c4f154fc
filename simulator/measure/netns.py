"""Thin, typed wrappers around ``ip`` and ``tc`` (iproute2) for the emulated-cluster rig.

Every function runs one iproute2 command and raises :class:`NetnsCommandError` (with the
command and its stderr) when it fails. Nothing here knows about topologies: :mod:`rig` plans
which namespaces, veths, bridges and shapers to make and calls these.

Only names the caller passes are touched; the rig passes names with its own run prefix.
Needs root (``CAP_NET_ADMIN``) and iproute2; :func:`check_support` says why not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence

from simulator.core.errors import InputError

#: Every namespace the rig makes starts with this, so ``commsim rig clean`` can find leftovers.
NETNS_PREFIX = "cs-"


class RigUnavailable(InputError):
    """This machine cannot build a rig (not root, no ``ip``, or namespaces are not permitted).

    A subclass of :class:`InputError` so that the CLI prints one line and exits 2.
    """


class NetnsCommandError(RuntimeError):
    """An ``ip``/``tc`` command failed; ``str()`` holds the command line and its stderr."""


def _ip_binary() -> str | None:
    return shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip") if os.path.exists(p)), None
    )


def _tc_binary() -> str | None:
    return shutil.which("tc") or next(
        (p for p in ("/usr/sbin/tc", "/sbin/tc", "/usr/bin/tc") if os.path.exists(p)), None
    )


def unavailable_reason() -> str | None:
    """Why no rig can be built here, or ``None`` when root, ``ip`` and ``tc`` are present.

    Does not create anything; :func:`check_support` additionally tries ``ip netns list``.
    """
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "building the rig needs root (CAP_NET_ADMIN); run as root or use sudo"
    if _ip_binary() is None:
        return "the `ip` command (iproute2) is not installed"
    if _tc_binary() is None:
        return "the `tc` command (iproute2) is not installed"
    try:
        subprocess.run(
            [_ip_binary() or "ip", "netns", "list"], check=True, capture_output=True, timeout=10
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        return f"`ip netns list` failed: {exc}"
    return None


def check_support() -> None:
    """Raise :class:`RigUnavailable` naming the reason when no rig can be built here."""
    reason = unavailable_reason()
    if reason is not None:
        raise RigUnavailable(reason, file="rig")


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise NetnsCommandError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc


def ip(args: Sequence[str], *, ns: str | None = None, check: bool = True) -> str:
    """Run ``ip [-n NS] ARGS``; return stdout."""
    prefix = [_ip_binary() or "ip"] + (["-n", ns] if ns else [])
    return _run([*prefix, *args], check=check).stdout


def tc(args: Sequence[str], *, ns: str, check: bool = True) -> str:
    """Run ``tc ARGS`` inside namespace ``ns`` (``ip netns exec NS tc ...``); return stdout."""
    return _run(exec_argv(ns, [_tc_binary() or "tc", *args]), check=check).stdout


def exec_argv(ns: str, argv: Sequence[str]) -> list[str]:
    """The argv that runs ``argv`` inside namespace ``ns``."""
    return [_ip_binary() or "ip", "netns", "exec", ns, *argv]


def list_netns(prefix: str = NETNS_PREFIX) -> list[str]:
    """Names of existing namespaces that start with ``prefix``."""
    out = ip(["netns", "list"])
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if n.startswith(prefix)]


def add_netns(name: str) -> None:
    """Create namespace ``name`` with its loopback up."""
    ip(["netns", "add", name])
    ip(["link", "set", "lo", "up"], ns=name)


def kill_netns_processes(name: str) -> None:
    """SIGKILL every process still running inside namespace ``name`` (best effort)."""
    proc = _run([_ip_binary() or "ip", "netns", "pids", name], check=False)
    for tok in proc.stdout.split():
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
            os.kill(int(tok), signal.SIGKILL)


def del_netns(name: str) -> None:
    """Kill what runs in namespace ``name`` and delete it (its veths and bridges go with it)."""
    kill_netns_processes(name)
    ip(["netns", "del", name], check=False)


def add_veth(ns_a: str, dev_a: str, ns_b: str, dev_b: str, *, mtu_B: int) -> None:
    """Create a veth pair with end ``dev_a`` in ``ns_a`` and end ``dev_b`` in ``ns_b``.

    Both ends are made directly inside their namespaces, so the device names only need to be
    unique per namespace and the root namespace never sees them.
    """
    ip(["link", "add", dev_a, "mtu", str(mtu_B), "type", "veth",
        "peer", "name", dev_b, "mtu", str(mtu_B), "netns", ns_b], ns=ns_a)  # fmt: skip


def add_bridge(ns: str, dev: str) -> None:
    """Create a Linux bridge ``dev`` in ``ns`` (no STP, forwarding at once) and bring it up."""
    ip(["link", "add", dev, "type", "bridge", "stp_state", "0", "forward_delay", "0"], ns=ns)
    ip(["link", "set", dev, "up"], ns=ns)


def attach(ns: str, dev: str, bridge: str) -> None:
    """Make ``dev`` a port of ``bridge`` (both in ``ns``)."""
    ip(["link", "set", dev, "master", bridge], ns=ns)


def link_up(ns: str, dev: str) -> None:
    """Bring ``dev`` in ``ns`` up."""
    ip(["link", "set", dev, "up"], ns=ns)


def add_address(ns: str, dev: str, cidr: str) -> None:
    """Assign ``cidr`` (e.g. ``10.233.0.1/16``) to ``dev`` in ``ns``."""
    ip(["addr", "add", cidr, "dev", dev], ns=ns)


def shape_egress(ns: str, dev: str, *, rate_Bps: float, burst_B: int, queue_s: float) -> None:
    """Limit what ``dev`` in ``ns`` sends to ``rate_Bps`` with a token-bucket filter (``tbf``).

    ``rate_Bps`` counts every byte the qdisc sees (Ethernet header + IP + TCP + payload), so TCP
    goodput is ``rate * MSS / (MTU + 14)`` at best. ``burst_B`` is the bucket size; ``queue_s``
    the longest a packet may wait in the queue before it is dropped.
    """
    rate_bit = round(rate_Bps * 8)
    tc(["qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{rate_bit}bit",
        "burst", str(int(burst_B)), "latency", f"{queue_s * 1e3:.3f}ms"], ns=ns)  # fmt: skip


def qdisc_show(ns: str, dev: str) -> str:
    """``tc -s qdisc show dev DEV`` in ``ns`` (for tests and ``commsim rig show``)."""
    return tc(["-s", "qdisc", "show", "dev", dev], ns=ns)
