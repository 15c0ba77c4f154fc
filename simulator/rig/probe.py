"""A timed TCP transfer between two rig hosts, to check that a shaped link gives its rate.

Run as ``python -m simulator.rig.probe serve PORT`` in one namespace and
``python -m simulator.rig.probe send ADDR PORT SIZE_B`` in another; the sender prints one
JSON object ``{"size_B", "time_s", "goodput_Bps"}``. Time runs from the connect to the
receiver's one-byte acknowledgement after the last byte, so queued bytes are counted.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.rig.cluster import Rig

_CHUNK_B = 1 << 20


def serve(port: int, timeout_s: float = 60.0) -> int:
    """Accept one connection, read ``SIZE_B`` (8-byte header) bytes, acknowledge; return bytes."""
    with socket.socket() as srv:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", port))
        srv.listen(1)
        srv.settimeout(timeout_s)
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(timeout_s)
            header = b""
            while len(header) < 8:
                header += conn.recv(8 - len(header))
            want = int.from_bytes(header, "big")
            got = 0
            while got < want:
                data = conn.recv(min(_CHUNK_B, want - got))
                if not data:
                    break
                got += len(data)
            conn.sendall(b"k")
    return got


def send(addr: str, port: int, size_B: int, timeout_s: float = 60.0) -> dict[str, float]:
    """Send ``size_B`` bytes to ``addr:port`` (retrying the connect for up to 10 s)."""
    deadline = time.monotonic() + 10.0
    while True:
        try:
            sock = socket.create_connection((addr, port), timeout=timeout_s)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    buf = b"\0" * _CHUNK_B
    with sock:
        t0 = time.perf_counter()
        sock.sendall(size_B.to_bytes(8, "big"))
        left = size_B
        while left > 0:
            n = min(left, _CHUNK_B)
            sock.sendall(buf[:n])
            left -= n
        ack = sock.recv(1)
        dt = time.perf_counter() - t0
    if ack != b"k":
        raise ConnectionError("receiver did not acknowledge")
    return {"size_B": float(size_B), "time_s": dt, "goodput_Bps": size_B / dt}


def probe_pair(rig: Rig, src: int, dst: int, size_B: int, port: int = 5201) -> dict[str, float]:
    """Time a ``size_B`` TCP transfer from rank ``src`` to rank ``dst`` of a built ``rig``."""
    module = [sys.executable, "-m", "simulator.rig.probe"]
    server = rig.popen(dst, [*module, "serve", str(port)])
    try:
        client = rig.popen(src, [*module, "send", rig.host(dst).address, str(port), str(size_B)])
        out, err = client.communicate(timeout=120)
        if client.returncode != 0:
            raise RuntimeError(f"probe sender failed: {err.strip()}")
        server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    result: dict[str, float] = json.loads(out)
    return result


def main(argv: Sequence[str]) -> int:
    """CLI entry: ``serve PORT`` or ``send ADDR PORT SIZE_B``."""
    if len(argv) == 2 and argv[0] == "serve":
        serve(int(argv[1]))
        return 0
    if len(argv) == 4 and argv[0] == "send":
        print(json.dumps(send(argv[1], int(argv[2]), int(argv[3]))))
        return 0
    print("usage: probe serve PORT | probe send ADDR PORT SIZE_B", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
