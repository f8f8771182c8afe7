"""Real trackers and peer nodes as processes on loopback, for integration tests, browser tests and benchmarks.

Theory of operation: a ``Cluster`` owns a temp dir with a tracker list of N free ports; ``start_tracker(no)`` runs
``./tracker`` and ``start_node(name)`` runs ``./client`` (each in its own process group, output to a log file
under the temp dir), waiting until ``/healthz`` answers. ``Node.cmd(line)`` is ``POST /cmd`` with the node's API
key and returns ``(status, text)``; ``Node.ok(line)`` insists on 200. ``Cluster.close()`` (or leaving the ``with``)
stops every process it started: SIGTERM, then SIGKILL after a grace period. Small pieces and short timeouts are
the defaults here so tests stay quick; pass other ``node_args``/``tracker_args`` to change them.

    with Cluster(tmp_path, trackers=2) as c:
        c.start_tracker(1)
        alice = c.start_node("alice")
        alice.ok("create_user alice pw-alice-1")
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import random
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from bench.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
T = TypeVar("T")

FAST_TRACKER_ARGS = ("--scrypt-log2n", "10", "--peer-timeout", "3")
FAST_NODE_ARGS = ("--piece-size", str(64 * 1024), "--download-stall", "6", "--tracker-timeout", "3",
                  "--groups-poll", "0.5")


def wait_until(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy; AssertionError naming ``what`` on timeout."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def make_file(path: Path, size: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(MiB, left)
            f.write(rnd.randbytes(n))
            left -= n
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def http_request(port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 30.0) -> tuple[int, bytes]:
    """One request to 127.0.0.1:port; (0, b"") when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


class Proc:
    """A started program in its own process group, output to ``log_path``."""

    def __init__(self, argv: list[str], log_path: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(argv, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          env={**os.environ, **env} if env else None)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, grace: float = 5.0) -> int | None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        return self.popen.returncode

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""


class Node:
    """A ``./client`` process and its ``/cmd`` door."""

    def __init__(self, cluster: Cluster, name: str, args: tuple[str, ...]) -> None:
        self.cluster = cluster
        self.name = name
        self.password = f"{name}-pw-8421"
        self.piece_port = free_port()
        self.web_port = free_port()
        self.data_dir = cluster.tmp / "nodes" / name
        self.args = args
        self.env: dict[str, str] | None = None  # added to the environment it starts with
        self.root = ROOT  # the checkout whose ./client it runs (a bench may compare another's)
        self.proc: Proc | None = None

    def start(self, timeout: float = 30.0) -> Node:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [str(self.root / "client"), f"127.0.0.1:{self.piece_port}", str(self.cluster.list_path),
                "--web-port", str(self.web_port), "--data-dir", str(self.data_dir), *self.args]
        self.proc = Proc(argv, self.cluster.tmp / "logs" / f"node-{self.name}.log", self.cluster.tmp, self.env)
        self.cluster.procs.append(self.proc)

        def ready() -> bool:
            assert self.proc is not None
            if not self.proc.alive():
                raise AssertionError(f"node {self.name} exited early:\n{self.proc.log_tail()}")
            return http_request(self.web_port, "GET", "/healthz", timeout=2)[0] == 200

        wait_until(ready, timeout, f"node {self.name} to answer /healthz")
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None:
            self.proc.stop(sig)

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"node {self.name} is not started"
        return self.proc.popen.pid

    @property
    def api_key(self) -> str:
        return (self.data_dir / "api-key").read_text("ascii").strip()

    def headers(self) -> dict[str, str]:
        return {"Host": f"127.0.0.1:{self.web_port}", "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "text/plain; charset=utf-8"}

    def cmd(self, line: str, timeout: float = 60.0) -> tuple[int, str]:
        st, body = http_request(self.web_port, "POST", "/cmd", line.encode("utf-8"), self.headers(), timeout)
        return st, body.decode("utf-8", "replace")

    def ok(self, line: str, timeout: float = 60.0) -> str:
        st, text = self.cmd(line, timeout)
        assert st == 200, f"{self.name}: `{line}` -> {st} {text!r}"
        return text

    def api(self, path: str) -> Any:
        st, body = http_request(self.web_port, "GET", path, headers=self.headers())
        assert st == 200, f"{self.name}: GET {path} -> {st} {body[:200]!r}"
        return json.loads(body)

    def downloads(self) -> dict[str, dict[str, Any]]:
        """file name -> the node's JSON view of that download (state, percent, bytes_by_peer, reason ...)."""
        return {d["file_name"]: d for d in self.api("/api/downloads")["downloads"]}

    def login(self) -> None:
        self.ok(f"create_user {self.name} {shlex.quote(self.password)}")
        self.ok(f"login {self.name} {shlex.quote(self.password)}")

    def wait_download(self, file_name: str, timeout: float = 120.0, states: tuple[str, ...] = ("C",)) -> dict[
            str, Any]:
        def done() -> dict[str, Any] | None:
            d = self.downloads().get(file_name)
            if d is not None and d["state"] == "F" and "F" not in states:
                raise AssertionError(f"{self.name}: download of {file_name} failed: {d['reason']}")
            return d if d is not None and d["state"] in states else None

        return wait_until(done, timeout, f"{self.name}'s download of {file_name} to reach {states}")


class Cluster:
    def __init__(self, tmp: Path, trackers: int = 1, tracker_args: tuple[str, ...] = FAST_TRACKER_ARGS,
                 node_args: tuple[str, ...] = FAST_NODE_ARGS) -> None:
        self.tmp = tmp
        (tmp / "logs").mkdir(parents=True, exist_ok=True)
        self.tracker_ports = [free_port() for _ in range(trackers)]
        self.list_path = tmp / "tracker_info.txt"
        self.list_path.write_text("".join(f"127.0.0.1:{p}\n" for p in self.tracker_ports), encoding="utf-8")
        self.tracker_args = tracker_args
        self.node_args = node_args
        self.procs: list[Proc] = []
        self.trackers: dict[int, Proc] = {}
        self.nodes: dict[str, Node] = {}

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start_tracker(self, no: int, timeout: float = 30.0) -> Proc:
        data = self.tmp / "trackers" / str(no)
        data.mkdir(parents=True, exist_ok=True)
        argv = [str(ROOT / "tracker"), str(self.list_path), str(no), "--data-dir", str(data), *self.tracker_args]
        proc = Proc(argv, self.tmp / "logs" / f"tracker{no}.log", self.tmp)
        self.procs.append(proc)
        self.trackers[no] = proc
        port = self.tracker_ports[no - 1]

        def ready() -> bool:
            if not proc.alive():
                raise AssertionError(f"tracker {no} exited early:\n{proc.log_tail()}")
            return http_request(port, "GET", "/healthz", timeout=2)[0] == 200

        wait_until(ready, timeout, f"tracker {no} to answer /healthz")
        return proc

    def start_node(self, name: str, args: tuple[str, ...] | None = None, env: dict[str, str] | None = None) -> Node:
        node = self.nodes.get(name) or Node(self, name, self.node_args if args is None else args)
        self.nodes[name] = node
        if env is not None:
            node.env = env
        return node.start()

    def close(self) -> None:
        """SIGTERM to everything still running, a grace period, then SIGKILL to what is left. Nodes first: a
        stopping node tells its tracker it goes offline, and with the tracker already gone it waits out that
        notice's whole timeout (2 s a node, at every test's end)."""
        nodes = {id(n.proc) for n in self.nodes.values() if n.proc is not None}
        self._terminate([p for p in self.procs if id(p) in nodes])
        self._terminate([p for p in self.procs if id(p) not in nodes])
        for proc in self.procs:
            if proc.alive():
                proc.stop(signal.SIGKILL)

    @staticmethod
    def _terminate(procs: list[Proc]) -> None:
        live = [p for p in procs if p.alive()]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
        end = time.monotonic() + 5.0
        for proc in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, end - time.monotonic()))

    def logs(self) -> str:
        return "\n".join(f"--- {p.log_path.name}\n{p.log_tail()}" for p in self.procs)


def lab_pair(c: Cluster, alice_args: tuple[str, ...] | None = None,
             bob_args: tuple[str, ...] | None = None) -> tuple[Node, Node]:
    """Nodes alice and bob (node args as given, else the cluster's), logged in; bob a member of alice's "lab".
    Starts tracker 1 first if no tracker runs yet."""
    if not c.trackers:
        c.start_tracker(1)
    alice, bob = c.start_node("alice", alice_args), c.start_node("bob", bob_args)
    alice.login()
    bob.login()
    group_with_members(alice, [bob], "lab")
    return alice, bob


def group_with_members(owner: Node, members: list[Node], group_id: str) -> None:
    """owner creates group_id, each member asks to join, the owner accepts them all."""
    owner.ok(f"create_group {group_id}")
    for m in members:
        m.ok(f"join_group {group_id}")
    for m in members:
        owner.ok(f"accept_request {group_id} {m.name}")


@contextlib.contextmanager
def port_taken() -> Iterator[int]:
    """A loopback port someone else listens on (for the refusals of a taken port); free again afterwards."""
    squatter = socket.socket()
    try:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        yield squatter.getsockname()[1]
    finally:
        squatter.close()
