"""One libtorrent peer in its own process, so its CPU and memory are measured apart from the others.

Usage: ``python -m bench.lt_peer seed|download --torrent T --save DIR --port P [--peers host:port,...]
[--upload-limit BYTES_PER_S]``.
Talks JSON lines: prints ``{"ready": port}`` once listening. A seeder then waits for end of input. A downloader
waits for the line ``go``, adds the torrent, connects to the given peers, polls its status every 10 ms and prints
``{"t_first": s, "done_at_first": bytes, "t_done": s, "bytes": n}`` (seconds since ``go``) when it is a seeder;
it then keeps seeding (in a flash crowd the finished help the rest) until end of input.

Settings are those measured on this machine (../shared/PERF.md): TCP only, no DHT/LSD/UPnP/NAT-PMP, several
connections per IP allowed (every peer is 127.0.0.1), peer exchange off, high_performance_seed for seeders.
``--upload-limit`` caps the session's upload (every connection together; what it counts includes the protocol's
bytes and, by libtorrent's default ``rate_limit_ip_overhead``, an estimate of the TCP/IP headers), standing for
the uplink of a machine on a real network.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import libtorrent as lt


def all_peers_rate_limited() -> Any:
    """A peer class filter that puts every address in the global class, whose limits the settings pack sets.

    By default libtorrent puts peers on local networks (127.0.0.0/8 included) in the "local" class instead,
    which no rate limit applies to: on loopback ``upload_rate_limit`` alone would change nothing."""
    everyone = 1 << lt.session.global_peer_class_id
    f = lt.ip_filter()
    f.add_rule("0.0.0.0", "255.255.255.255", everyone)
    f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", everyone)
    return f


def make_session(port: int, seeder: bool, upload_limit: int = 0) -> Any:
    pack: dict[str, Any] = dict(lt.high_performance_seed()) if seeder else {}
    pack.update({
        "listen_interfaces": f"127.0.0.1:{port}",
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "enable_outgoing_tcp": True, "enable_incoming_tcp": True,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": 0,
    })
    if upload_limit > 0:
        # The limiter hands out quota once a tick (500 ms by default), and every message waits for it, the
        # handshake's too: at the default a capped download started about 2 s late (measured), which a real link
        # does not do. The manual: "around 100 means higher resolution bandwidth quota distribution".
        pack.update({"upload_rate_limit": upload_limit, "tick_interval": 100})
    ses = lt.session(pack)  # type: ignore[call-overload]  # the binding accepts a dict
    if upload_limit > 0:
        ses.set_peer_class_filter(all_peers_rate_limited())
    return ses


def add(ses: Any, torrent: str, save: str, seed: bool) -> Any:
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    atp.flags |= lt.torrent_flags.disable_pex
    if seed:
        atp.flags |= lt.torrent_flags.seed_mode
    return ses.add_torrent(atp)


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def download(ses: Any, args: argparse.Namespace) -> None:
    if sys.stdin.readline().strip() != "go":
        return
    t0 = time.perf_counter()
    handle = add(ses, args.torrent, args.save, seed=False)
    for peer in filter(None, args.peers.split(",")):
        host, port = peer.rsplit(":", 1)
        handle.connect_peer((host, int(port)))
    t_first: float | None = None
    done_at_first = 0
    while True:
        st = handle.status()
        if t_first is None and st.total_wanted_done > 0:
            t_first = time.perf_counter() - t0
            done_at_first = st.total_wanted_done
        if st.is_seeding or (st.total_wanted > 0 and st.total_wanted_done >= st.total_wanted):
            break
        time.sleep(0.01)
    t_done = time.perf_counter() - t0
    emit({"t_first": t_first if t_first is not None else t_done, "done_at_first": done_at_first,
          "t_done": t_done, "bytes": st.total_wanted})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bench.lt_peer")
    ap.add_argument("role", choices=["seed", "download"])
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--save", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--peers", default="")
    ap.add_argument("--upload-limit", type=int, default=0, help="bytes per second, 0 for none")
    args = ap.parse_args(argv)
    ses = make_session(args.port, seeder=args.role == "seed", upload_limit=args.upload_limit)
    handle = add(ses, args.torrent, args.save, seed=True) if args.role == "seed" else None
    emit({"ready": args.port})
    if args.role == "download":
        download(ses, args)
    sys.stdin.read()  # serve until the bench closes our input
    if handle is not None:
        emit({"uploaded": handle.status().total_payload_upload})


if __name__ == "__main__":
    main()
