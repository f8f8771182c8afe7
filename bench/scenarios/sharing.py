"""Scenario 4: ``upload_file`` of a 2 GiB file, hashing MB/s against single-threaded hashlib on the same file.

The reference does the hashing a BitTorrent-style share needs — SHA-256 of every piece and of the whole file —
in one thread of the bench process, reading 4 MiB at a time; the file is in the page cache for both (it was just
written). Goal (issue 7): at least 1.6x. The node now lists SHA-256 chaining values as piece hashes (see
``wire.pieces``), so its work is one SHA-256 pass: it meets the goal by hashing every byte once, not by using a
second core (a single SHA-256 cannot be split). The second row compares it with that floor: hashlib's SHA-256
of the file alone, one thread. Each run shares the file into a new group so the node hashes it afresh.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Generator
from pathlib import Path

from bench.context import Ctx
from bench.gs_side import Cluster, NotBuilt, share
from bench.model import MB, Metric
from bench.procs import Procs
from wire.pieces import piece_size_for

NAME = "4 sharing (hash)"
REF = "hashlib 1 thread"
SAME_REF = "hashlib SHA-256 alone"


def _sha256(data: memoryview) -> bytes:
    return hashlib.sha256(data).digest()


def hash_like_upload(path: Path, piece_hash: Callable[[memoryview], bytes] | None = _sha256) -> float:
    """Seconds to compute every piece's digest (unless ``piece_hash`` is None) and the whole file's SHA-256 in
    one thread."""
    size = path.stat().st_size
    piece = piece_size_for(size)
    step = max(piece, 4 << 20)  # both powers of two: a read holds whole pieces
    buf = bytearray(step)
    view = memoryview(buf)
    t0 = time.perf_counter()
    whole = hashlib.sha256()
    pieces: list[bytes] = []
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            whole.update(view[:n])
            if piece_hash is not None:
                pieces.extend(piece_hash(view[off:min(n, off + piece)]) for off in range(0, n, piece))
    whole.hexdigest()
    return time.perf_counter() - t0


def run(ctx: Ctx) -> Generator[list[Metric], None, None]:
    data = ctx.random_file(ctx.sizes.share_file)
    size = data.stat().st_size
    with Procs(ctx.dir("logs-sharing")) as procs:
        cluster: Cluster | None = None
        note = ""
        try:
            cluster = Cluster(procs, ctx.dir("gs-sharing"))
            cluster.start_trackers(1)
            node = cluster.start_node("sharer")
            node.cmd("create_user sharer pw-sharer-secret")
            node.cmd("login sharer pw-sharer-secret")
        except NotBuilt as e:
            note, cluster = str(e), None
        for i in range(ctx.runs):
            ctx.say(f"run {i + 1}: hashlib, then upload_file")
            ref = size / MB / hash_like_upload(data)
            same = size / MB / hash_like_upload(data, None)
            ours = None
            if cluster is not None:
                node.cmd(f"create_group share{i}")
                ours = size / MB / share(node, data, f"share{i}")
            yield [Metric(NAME, "upload_file hashing", "MB/s", ours, ref, REF, ">= 1.6x", note),
                   Metric(NAME, "upload_file, against one SHA-256 pass", "MB/s", ours, same, SAME_REF, "", note)]
