"""The piece port (reachable from the network, unlike the web port) under a flood of idle connections: its caps and
its handshake deadline come from the node's configuration, and a real download still completes."""

from __future__ import annotations

import contextlib
import shlex
import socket
import threading
import time

from tests.support.cluster import FAST_NODE_ARGS, Cluster, MiB, lab_pair, make_file, sha256_file

HANDSHAKE_S = 2.0
CAP = 12
LIMIT_ARGS = ("--peer-max-connections", str(CAP), "--peer-max-per-address", str(CAP),
              "--peer-handshake-timeout", str(HANDSHAKE_S))


def _closed_by_peer(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` (end of stream or reset) within ``within`` seconds, sending nothing."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


class _Flood:
    """Idle connections to ``port``, a new one every few milliseconds until stopped; all closed at the end."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.socks: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            with contextlib.suppress(OSError):  # a full backlog or a reset: the flood goes on
                self.socks.append(socket.create_connection(("127.0.0.1", self.port), timeout=2))

    def __enter__(self) -> _Flood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.socks:
            sock.close()


def test_a_flood_of_idle_connections_on_the_piece_port_does_not_stop_a_real_download(cluster: Cluster) -> None:
    alice, bob = lab_pair(cluster, alice_args=FAST_NODE_ARGS + LIMIT_ARGS)
    src = make_file(cluster.tmp / "share" / "data.bin", 2 * MiB, seed=7)
    alice.ok(f"upload_file {shlex.quote(str(src))} lab")
    dest = cluster.tmp / "copy.bin"
    with _Flood(alice.piece_port) as flood:
        deadline = time.monotonic() + 10
        while len(flood.socks) < 5 * CAP and time.monotonic() < deadline:  # far more than the cap, before bob asks
            time.sleep(0.05)
        assert len(flood.socks) >= 5 * CAP
        bob.ok(f"download_file lab data.bin {shlex.quote(str(dest))}")
        bob.wait_download("data.bin", timeout=60)
        assert sha256_file(dest) == sha256_file(src)
        # The first of the flood was cut long ago: by the handshake deadline, or to make room for a later one.
        assert _closed_by_peer(flood.socks[0], within=0.5)
    # A lone idle connection, with no flood to displace it, is cut by the configured handshake deadline (the
    # default is 10 s: waiting at most 4 times the configured one tells them apart).
    with socket.create_connection(("127.0.0.1", alice.piece_port)) as idle:
        assert _closed_by_peer(idle, within=4 * HANDSHAKE_S)
