"""A GroupShare swarm for the bench: one tracker, seeders sharing files in place, fresh downloaders on demand.

Seeders are set up once per scenario; every timed download uses a fresh downloader node (its own user and an
empty data dir) so no run profits from the one before, and its destination is removed afterwards.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.datafiles import sha256_file
from bench.gs_side import Cluster, Node, join_group, share, wait_seeders
from bench.procs import Procs

GROUP = "bench"


class OurSwarm:
    def __init__(self, procs: Procs, work: Path, seeders: int, files: list[Path],
                 node_args: tuple[str, ...] = ()) -> None:
        self.work = work
        self.cluster = Cluster(procs, work, node_args=list(node_args))
        self.cluster.start_trackers(1)
        self.seeders = self.cluster.start_nodes([f"s{i}" for i in range(seeders)])
        join_group(self.seeders[0], self.seeders[1:], GROUP)
        self.share_seconds: dict[str, list[float]] = {}
        for path in files:
            for s in self.seeders:
                self.share_seconds.setdefault(path.name, []).append(share(s, path, GROUP))
            wait_seeders(self.seeders[0], GROUP, path.name, seeders)
        self.count = 0
        self._hashes: dict[Path, str] = {}

    def _sha(self, source: Path) -> str:
        if source not in self._hashes:
            self._hashes[source] = sha256_file(source)
        return self._hashes[source]

    def fresh_downloaders(self, count: int) -> list[Node]:
        names = [f"d{self.count + i + 1}" for i in range(count)]
        self.count += count
        nodes = self.cluster.start_nodes(names)
        for node in nodes:
            node.cmd(f"create_user {node.name} pw-{node.name}-secret")
            node.cmd(f"login {node.name} pw-{node.name}-secret")
            node.cmd(f"join_group {GROUP}")
            self.seeders[0].cmd(f"accept_request {GROUP} {node.name}")
        return nodes

    def dest_dir(self, node: Node) -> Path:
        d = self.work / "downloads" / node.name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def retire(self, nodes: list[Node], source: Path | None = None, verify: bool = False) -> None:
        """Check each node's copy of ``source`` (size; content too if ``verify``), then stop the nodes and delete
        what they downloaded."""
        if source is not None:
            for node in nodes:
                copy = self.dest_dir(node) / source.name
                if not copy.exists() or copy.stat().st_size != source.stat().st_size:
                    raise RuntimeError(f"{node.name} shows [C] but {copy} is missing or of the wrong size")
                if verify and sha256_file(copy) != self._sha(source):
                    raise RuntimeError(f"{node.name}'s copy of {source.name} differs from the original")
        for node in nodes:
            self.cluster.stop_node(node)
            shutil.rmtree(self.work / "downloads" / node.name, ignore_errors=True)
            shutil.rmtree(node.data_dir, ignore_errors=True)
