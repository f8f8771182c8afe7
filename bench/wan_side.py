"""Our side of the bench's distant links: seeders and one downloader of the swarm engine, each in a process.

Why not ``./client`` nodes: a node listens on the address it registers with the tracker, so a downloader could
not be sent through a relay (``bench.link_emulator``) to it. Here the seeders are ``PieceServer``s and the
downloader a ``DownloadEngine`` told the relays' addresses, the same engine and server a node runs, with their
defaults and plain TCP (libtorrent's peers do not encrypt either; scenario 6 measures what TLS costs).

``python -m bench.wan_side seed FILE --count N --out META.json`` serves FILE from N piece servers on 127.0.0.1,
writes the file's metadata and a token to META.json, prints ``{"ports": [...]}`` and serves until its
input closes. ``python -m bench.wan_side get META.json DEST --ports P,Q`` waits for ``go`` on its input, then
downloads through the given ports and prints a ``Timing``'s fields as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from peer_node.swarm import DownloadEngine, PieceServer, PieceStore, ServedFiles, SwarmSnapshot
from wire.pieces import PieceHasher, piece_size_for
from wire.records import FileMeta, SeederInfo
from wire.tokens import AccessGrant, TokenVerifier, mint_token, public_key_hex, signing_key_from_secret

GROUP = "wan"
_KEY = signing_key_from_secret(b"bench wan side")  # both processes derive it: the bench's stand-in tracker


def file_meta(path: Path) -> FileMeta:
    size = path.stat().st_size
    piece_size = piece_size_for(size)
    hasher = PieceHasher(size, piece_size)
    with path.open("rb") as f:
        while chunk := f.read(8 << 20):
            hasher.update(chunk)
    sha, hashes = hasher.finish()
    return FileMeta(path.name, size, piece_size, sha, hashes)


def meta_json(meta: FileMeta) -> dict[str, Any]:
    return {"name": meta.file_name, "size": meta.size, "piece_size": meta.piece_size, "sha256": meta.sha256,
            "hashes": [h.hex() for h in meta.piece_hashes]}


def meta_from(obj: dict[str, Any]) -> FileMeta:
    return FileMeta(obj["name"], obj["size"], obj["piece_size"], obj["sha256"],
                    tuple(bytes.fromhex(h) for h in obj["hashes"]))


def write_meta(path: Path, out: Path) -> FileMeta:
    """The file's metadata and a token for it, for the downloader (what a tracker would give it)."""
    meta = file_meta(path)
    token = mint_token(_KEY, AccessGrant("downloader", GROUP, meta.sha256, "", 1, time.time() + 24 * 3600))
    out.write_text(json.dumps({"meta": meta_json(meta), "token": token}))
    return meta


async def seed(path: Path, meta: FileMeta, count: int) -> None:
    stores = [PieceStore.open_complete(path, meta) for _ in range(count)]
    verifier = TokenVerifier([public_key_hex(_KEY)])
    servers = []
    for store in stores:
        catalog = ServedFiles()
        catalog.register(store)
        server = PieceServer("127.0.0.1", 0, catalog, lambda: verifier, holds=lambda group, sha: group == GROUP)
        await server.start()
        servers.append(server)
    ports = [s.port for s in servers]
    print(json.dumps({"ports": ports}), flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the bench closes it
    finally:
        for server in servers:
            await server.close()
        for store in stores:
            store.close()


async def get(info: dict[str, Any], dest: Path, ports: list[int]) -> dict[str, float]:
    meta = meta_from(info["meta"])
    seeders = [SeederInfo(f"s{i}", "127.0.0.1", port, "", None) for i, port in enumerate(ports)]

    async def source() -> SwarmSnapshot:
        return SwarmSnapshot(info["token"], seeders)

    store = PieceStore.open_partial(dest / (meta.file_name + ".part"), dest / (meta.file_name + ".state"), meta)
    t_first: float | None = None
    done_at_first = 0
    t0 = time.perf_counter()

    def on_piece(index: int) -> None:
        nonlocal t_first, done_at_first
        if t_first is None:
            t_first, done_at_first = time.perf_counter() - t0, store.bytes_verified

    try:
        await DownloadEngine(meta, store, source, on_piece=on_piece).run()
        t_done = time.perf_counter() - t0
        final = await store.finish(dest / meta.file_name)
    finally:
        store.close()
    if final.stat().st_size != meta.size:
        raise RuntimeError(f"{final} has the wrong size")
    return {"t_first": t_first if t_first is not None else t_done, "done_at_first": done_at_first, "t_done": t_done}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.wan_side")
    sub = ap.add_subparsers(dest="role", required=True)
    s = sub.add_parser("seed")
    s.add_argument("file", type=Path)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--out", type=Path, required=True)
    g = sub.add_parser("get")
    g.add_argument("meta", type=Path)
    g.add_argument("dest", type=Path)
    g.add_argument("--ports", required=True)
    args = ap.parse_args(argv)
    if args.role == "seed":
        asyncio.run(seed(args.file, write_meta(args.file, args.out), args.count))
        return
    print(json.dumps({"ready": True}), flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    ports = [int(p) for p in args.ports.split(",")]
    print(json.dumps(asyncio.run(get(json.loads(args.meta.read_text()), args.dest, ports))), flush=True)


if __name__ == "__main__":
    main()
