"""``python -m bench.memory_soak [MINUTES] [--compare CHECKOUT] [--probe] [--out DIR]``: does a node's memory grow?

A long, varied workload on real processes on 127.0.0.1: two trackers, two seeders (alice, carol) sharing six files
(two of 24 MiB, four of 4 MiB; the seeders' uploads capped at 12 MB/s each so a download lasts long enough to be
paused), and the measured downloader ``this`` (this checkout). Each cycle the downloader fetches a small file,
reads the status pages, starts a big one, pauses it at 10% or more, resumes it, and lets it finish (or, every third
cycle, cancels it), removes its downloads and deletes the files; every fourth cycle the primary tracker is killed
(SIGKILL) while a download runs and started again after; every fifth a seeder stops and starts again; every seventh
the downloader logs out and in. ``--compare CHECKOUT`` adds a downloader ``base`` running that other checkout's
``./client`` (give it a ``.venv``: a symlink to this one's will do) through the same cycles, turn about, in the
same cluster: the before/after of a change on one workload. Every 15 s the RSS of each downloader is sampled from
``/proc``; the table at the end has it over time.

``--probe`` starts the downloaders with ``bench/memory_probe`` on their PYTHONPATH (a sitecustomize: glibc's
in-use and free bytes, object counts by type, tracemalloc with GS_MEMPROBE_TRACE=N), written under ``--out``.
Twenty minutes of this told a growth that was glibc's, not ours (bench/HISTORY.md, "Memory of a long-running
node"). Not run by ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import tempfile
import threading
import time
from pathlib import Path

from tests.support.cluster import Cluster, MiB, Node, group_with_members, http_request, make_file, wait_until

PROBE = Path(__file__).resolve().parent / "memory_probe"
SAMPLE_EVERY_S = 15.0
UPLOAD_LIMIT = "12M"


def rss_of(pid: int) -> int:
    """Resident bytes of ``pid`` (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


class RssLog:
    """Samples the RSS of some nodes every ``every`` seconds in a thread: rows of (seconds, {name: bytes})."""

    def __init__(self, nodes: list[Node], every: float = SAMPLE_EVERY_S) -> None:
        self.nodes, self.every = nodes, every
        self.rows: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="rss-log", daemon=True)

    def sample(self) -> None:
        self.rows.append((time.monotonic() - self._started,
                          {n.name: rss_of(n.proc.popen.pid) if n.proc is not None else 0 for n in self.nodes}))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> RssLog:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def primary(c: Cluster) -> int:
    """The tracker number that says it is primary (1 if none answers)."""
    for no, port in enumerate(c.tracker_ports, 1):
        status, body = http_request(port, "GET", "/healthz", timeout=2)
        if status == 200 and json.loads(body).get("role") == "primary":
            return no
    return 1


def clear(node: Node, files: list[str], folder: Path) -> None:
    for name in files:
        node.cmd(f"remove_download lab {name}")
    for path in folder.iterdir():
        path.unlink()


def one_cycle(node: Node, cycle: int, files: list[str], folder: Path) -> None:
    small, big = files[2 + cycle % 4], files[cycle % 2]
    node.ok(f"download_file lab {small} {folder}")
    node.wait_download(small, 120)
    for path in ("/api/status", "/api/downloads", "/healthz", "/login", "/downloads"):
        http_request(node.web_port, "GET", path, headers=node.headers())
    node.ok(f"download_file lab {big} {folder}")
    wait_until(lambda: node.downloads().get(big, {}).get("percent", 0) >= 10, 60, f"{big} to be under way")
    node.cmd(f"pause_download lab {big}")
    time.sleep(0.5)
    node.cmd(f"resume_download lab {big}")
    if cycle % 3 == 0:
        time.sleep(0.3)
        node.cmd(f"remove_download lab {big}")
    else:
        node.wait_download(big, 180)
    clear(node, files, folder)
    node.ok("show_downloads")
    node.ok("list_files lab")
    if cycle % 7 == 0:
        node.ok("logout")
        node.ok(f"login {node.name} {shlex.quote(node.password)}")


def soak(tmp: Path, minutes: float, compare: Path | None = None, probe: Path | None = None,
         max_cycles: int | None = None) -> tuple[int, list[tuple[float, dict[str, int]]]]:
    """Run the workload for ``minutes`` (or ``max_cycles``); (cycles run, the RSS rows)."""
    with Cluster(tmp, trackers=2) as c:
        c.start_tracker(1)
        c.start_tracker(2)
        alice, carol = c.start_node("alice"), c.start_node("carol")
        names = ["this", *(["base"] if compare is not None else [])]
        downloaders: list[Node] = []
        for name in names:
            node = c.nodes[name] = Node(c, name, c.node_args)
            if name == "base" and compare is not None:
                node.root = compare
            if probe is not None:
                (probe / name).mkdir(parents=True, exist_ok=True)
                node.env = {"PYTHONPATH": str(PROBE), "GS_MEMPROBE_DIR": str(probe / name)}
            downloaders.append(node.start())
        for node in (alice, carol, *downloaders):
            node.login()
        group_with_members(alice, [carol, *downloaders], "lab")
        files = []
        for i in range(6):
            path = make_file(tmp / "shared" / f"f{i}.bin", (24 if i < 2 else 4) * MiB, i)
            for seeder in (alice, carol):
                seeder.ok(f"upload_file {path} lab")
            files.append(path.name)
        for seeder in (alice, carol):
            seeder.ok(f"set_upload_limit {UPLOAD_LIMIT}")
        folders = {n.name: tmp / f"dl-{n.name}" for n in downloaders}
        for folder in folders.values():
            folder.mkdir()
        end = time.monotonic() + minutes * 60
        cycle = 0
        with RssLog(downloaders) as rss:
            while time.monotonic() < end and (max_cycles is None or cycle < max_cycles):
                cycle += 1
                for node in downloaders:
                    one_cycle(node, cycle, files, folders[node.name])
                if cycle % 4 == 0:  # the primary killed; a download by each downloader meanwhile; back after
                    no = primary(c)
                    c.trackers[no].stop(signal.SIGKILL)
                    name = files[2 + (cycle + 1) % 4]
                    for node in downloaders:
                        node.ok(f"download_file lab {name} {folders[node.name]}")
                    for node in downloaders:
                        node.wait_download(name, 120)
                        clear(node, files, folders[node.name])
                    c.start_tracker(no)
                if cycle % 5 == 0:  # a seeder leaves and comes back
                    carol.kill(signal.SIGTERM)
                    c.start_node("carol")
                if probe is not None and cycle % 10 == 0:
                    for node in downloaders:
                        (probe / node.name / "snap-request").touch()
        return cycle, rss.rows


def table(rows: list[tuple[float, dict[str, int]]]) -> str:
    names = list(rows[0][1]) if rows else []
    lines = ["  time  " + "".join(f"{n + ' RSS':>12}" for n in names)]
    for t, rss in rows:
        lines.append(f"{t / 60:5.1f} m" + "".join(f"{rss[n] / 1e6:9.0f} MB" for n in names))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.memory_soak", description=__doc__.split("\n\n")[0])
    p.add_argument("minutes", nargs="?", type=float, default=18.0)
    p.add_argument("--compare", type=Path, help="another checkout: its node runs the same cycles, as 'base'")
    p.add_argument("--probe", action="store_true", help="bench/memory_probe in each downloader (see --out)")
    p.add_argument("--out", type=Path, help="where the probe writes and rss.json goes (default: not kept)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="gs-memsoak-") as tmp:
        out = args.out.resolve() if args.out else Path(tmp) / "out"
        out.mkdir(parents=True, exist_ok=True)
        cycles, rows = soak(Path(tmp) / "cluster", args.minutes, args.compare and args.compare.resolve(),
                            out / "probe" if args.probe else None)
        (out / "rss.json").write_text(json.dumps(rows), encoding="utf-8")
    print(f"{cycles} cycles")
    print(table(rows))


if __name__ == "__main__":
    main()
