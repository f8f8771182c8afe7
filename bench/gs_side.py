"""Our side: real ``./tracker`` and ``./client`` processes driven only through the user-facing contract.

Theory of operation: a :class:`Cluster` writes a tracker list with free ports, starts the trackers and nodes
as processes (through :class:`bench.procs.Procs`, so they are always stopped), waits for ``/healthz`` and
talks to each node with ``POST /cmd`` and its API key, exactly as a user's script would. A download is timed
from the ``download_file`` request to the first ``show_downloads`` poll that shows ``[C]``; the first poll
showing a percentage above zero stands for the first byte (so "from first byte" is accurate to one percent of
the file and one poll period). :func:`features` looks at what exists, so a scenario can print ``n/a`` for a
part not built yet instead of failing.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.disk_stalls import StallMeter
from bench.model import Timing
from bench.ports import free_port
from bench.procs import PYTHON, REPO, Procs, Sampler

POLL = 0.05  # show_downloads period while timing a download
# Logins are not what the bench times: a cheap scrypt keeps setting up hundreds of users quick. The preloads sign
# up to 10,000 users from 127.0.0.1: far past the default sign-up burst of one address, so that is raised here, and
# so are the rates of writes per user and logins per address, and the password checks one address may run at once
# (the replication scenario times writes as fast as 20 users can make them).
TRACKER_ARGS = ["--scrypt-log2n", "10", "--signup-burst", "1000000", "--write-burst", "1000000",
                "--write-interval", "0.000001", "--address-hashes", "64"]


class NotBuilt(Exception):
    """The product lacks what a scenario needs (yet): the scenario reports n/a with this reason."""


class CmdError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status} {body.strip()}")
        self.status = status
        self.body = body


def features() -> dict[str, bool]:
    """Which parts exist in the tree (checked, never assumed)."""
    return {
        "tracker": (REPO / "tracker_server" / "__main__.py").exists(),
        "node": (REPO / "peer_node" / "__main__.py").exists(),
        "engine": (REPO / "peer_node" / "swarm" / "engine.py").exists(),
    }


def client_accepts(*args: str) -> bool:
    """Does ``./client`` take these options? Checked by parsing a command line with them, so a scenario can print
    n/a for an option the client lacks instead of failing when the node exits."""
    if not features()["node"]:
        return False
    argv = ["127.0.0.1:1", str(REPO / "tracker_info.txt"), *args]
    res = subprocess.run([PYTHON, "-c", f"from peer_node.config import config_from_argv; config_from_argv({argv!r})"],
                         cwd=REPO, capture_output=True, timeout=60, check=False)
    return res.returncode == 0


def http_json(port: int, path: str, timeout: float = 5.0) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {}
        return resp.status, data if isinstance(data, dict) else {}
    finally:
        conn.close()


def wait_healthy(port: int, proc_alive: Callable[[], bool], timeout: float = 30.0, log: Callable[[], str] = str
                 ) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            status, data = http_json(port, "/healthz", timeout=2)
            if status == 200:
                return data
            last = f"status {status}"
        except OSError as e:
            last = str(e)
        if not proc_alive():
            raise RuntimeError(f"process behind port {port} exited: {last}\n{log()}")
        time.sleep(0.1)
    raise TimeoutError(f"/healthz on {port} not ready after {timeout}s ({last})")


def _alive(proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: proc.poll() is None


@dataclass
class Node:
    name: str
    piece_port: int
    web_port: int
    data_dir: Path
    pid: int
    log_path: Path | None = None
    _key: str = ""

    def log_tail(self, lines: int = 12) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    @property
    def key(self) -> str:
        if not self._key:
            self._key = (self.data_dir / "api-key").read_text().strip()
        return self._key

    def cmd(self, line: str, timeout: float = 600.0) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=timeout)
        try:
            conn.request("POST", "/cmd", body=line.encode(), headers={
                "Authorization": f"Bearer {self.key}", "Content-Type": "text/plain; charset=utf-8"})
            resp = conn.getresponse()
            body = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        if resp.status != 200:
            raise CmdError(resp.status, body)
        return body


@dataclass
class Cluster:
    procs: Procs
    work: Path
    tracker_ports: list[int] = field(default_factory=list)
    tracker_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    tracker_extra: list[str] = field(default_factory=list)
    node_args: list[str] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)

    def _tail(self, name: str) -> Callable[[], str]:
        return lambda: self.procs.log_tail(name)

    @property
    def tracker_file(self) -> Path:
        return self.work / "tracker_info.txt"

    def start_trackers(self, count: int = 1, extra: tuple[str, ...] = (), listed: int = 0) -> list[dict[str, object]]:
        """Start trackers 1..count of a list of max(count, listed) entries (the others may be started later)."""
        if not features()["tracker"]:
            raise NotBuilt("tracker not built (no tracker_server/__main__.py)")
        self.tracker_ports = [free_port() for _ in range(max(count, listed))]
        self.tracker_file.write_text("".join(f"127.0.0.1:{p}\n" for p in self.tracker_ports))
        self.tracker_extra = list(extra)
        procs = [self.spawn_tracker(i) for i in range(1, count + 1)]
        for n, (p, port) in enumerate(zip(procs, self.tracker_ports[:count], strict=True), 1):
            wait_healthy(port, _alive(p), log=self._tail(f"tracker-{n}"))
        self.wait_primary(1)
        return [http_json(port, "/healthz")[1] for port in self.tracker_ports[:count]]

    def wait_primary(self, no: int, timeout: float = 30.0) -> None:
        """Until tracker ``no`` says it is the primary (a fresh cluster elects one first)."""
        deadline = time.monotonic() + timeout
        while http_json(self.tracker_ports[no - 1], "/healthz")[1].get("role") != "primary":
            if time.monotonic() > deadline:
                raise TimeoutError(f"tracker {no} is not primary after {timeout}s")
            time.sleep(0.05)

    def start_tracker(self, no: int) -> dict[str, object]:
        proc = self.spawn_tracker(no)
        return wait_healthy(self.tracker_ports[no - 1], _alive(proc), log=self._tail(f"tracker-{no}"))

    def spawn_tracker(self, no: int) -> subprocess.Popen[bytes]:
        proc = self.procs.spawn(f"tracker-{no}", [str(REPO / "tracker"), str(self.tracker_file), str(no),
                                                  "--data-dir", str(self.work / "trackers" / str(no)),
                                                  *TRACKER_ARGS, *self.tracker_extra])
        if len(self.tracker_procs) >= no:
            self.tracker_procs[no - 1] = proc
        else:
            self.tracker_procs.append(proc)
        return proc

    def start_node(self, name: str) -> Node:
        return self.start_nodes([name])[0]

    def start_nodes(self, names: list[str]) -> list[Node]:
        """Start several nodes at once (they boot in parallel), then wait until each is ready."""
        if not features()["node"]:
            raise NotBuilt("peer node not built (no peer_node/__main__.py)")
        started = []
        for name in names:
            piece_port, web_port = free_port(), free_port()
            data_dir = self.work / "nodes" / name
            proc = self.procs.spawn(f"node-{name}", [str(REPO / "client"), f"127.0.0.1:{piece_port}",
                                                     str(self.tracker_file), "--web-port", str(web_port),
                                                     "--data-dir", str(data_dir), *self.node_args])
            started.append((proc, Node(name, piece_port, web_port, data_dir, proc.pid,
                                       self.procs.log_dir / f"node-{name}.log")))
        for proc, node in started:
            wait_healthy(node.web_port, _alive(proc), log=self._tail(f"node-{node.name}"))
            self.nodes.append(node)
        return [node for _, node in started]

    def stop_node(self, node: Node) -> None:
        for p in self.procs.children:
            if p.pid == node.pid:
                self.procs.stop(p)
        self.nodes.remove(node)


def join_group(owner: Node, members: list[Node], group: str) -> None:
    """Users named after their nodes; the owner creates the group and admits every member."""
    for n in [owner, *members]:
        n.cmd(f"create_user {n.name} pw-{n.name}-secret")
        n.cmd(f"login {n.name} pw-{n.name}-secret")
    owner.cmd(f"create_group {group}")
    for n in members:
        n.cmd(f"join_group {group}")
        owner.cmd(f"accept_request {group} {n.name}")


def share(node: Node, path: Path, group: str) -> float:
    """upload_file; returns the seconds it took (hashing included)."""
    t0 = time.perf_counter()
    node.cmd(f"upload_file {path} {group}")
    return time.perf_counter() - t0


def wait_seeders(node: Node, group: str, name: str, count: int, timeout: float = 30.0) -> None:
    """Until list_files shows ``count`` live seeders of ``name`` (heartbeats make them live)."""
    deadline = time.monotonic() + timeout
    while True:
        for line in node.cmd(f"list_files {group}").splitlines():
            parts = line.split("\t")
            if len(parts) >= 4 and parts[0] == name and int(parts[3]) >= count:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} never had {count} live seeders")
        time.sleep(0.2)


def _state(out: str, group: str, name: str, node: Node | None = None) -> tuple[str, int]:
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == group and words[2] == name:
            if words[0] == "[C]":
                return "C", 100
            if words[0] == "[F]":
                raise RuntimeError(f"download failed: {line}\n{node.log_tail() if node else ''}")
            if words[0] == "[D]" and len(words) >= 4:
                return "D", int(words[3].rstrip("%"))
    return "?", 0


def start_download(node: Node, group: str, name: str, dest: Path) -> float:
    t0 = time.perf_counter()
    node.cmd(f"download_file {group} {name} {dest}")
    return t0


def wait_download(node: Node, group: str, name: str, size: int, t0: float, timeout: float) -> tuple[float, float, int]:
    """Poll until [C]: (t_first, t_done, bytes done at t_first), seconds since t0."""
    t_first: float | None = None
    done_at_first = 0
    while True:
        state, pct = _state(node.cmd("show_downloads"), group, name, node)
        now = time.perf_counter() - t0
        if t_first is None and pct > 0:
            t_first, done_at_first = now, size * pct // 100
        if state == "C":
            return (t_first if t_first is not None else now), now, done_at_first
        if now > timeout:
            raise TimeoutError(f"download of {name} not complete after {timeout}s ({state} {pct}%)")
        time.sleep(POLL)


def timed_download(node: Node, group: str, name: str, dest: Path, size: int, timeout: float = 600.0) -> Timing:
    sampler = Sampler(node.pid).start()
    disk = StallMeter(dest).start()
    try:
        t0 = start_download(node, group, name, dest)
        t_first, t_done, at_first = wait_download(node, group, name, size, t0, timeout)
    finally:
        stalled = disk.stop()
        sampler.stop()
    return Timing(t_first=t_first, done_at_first=at_first, t_done=t_done, size=size,
                  cpu_seconds=sampler.cpu_seconds, peak_rss=sampler.peak_rss, disk_stalled=stalled)
