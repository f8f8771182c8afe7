"""The node's configuration: argv parsed once into a frozen dataclass that every part reads.

``./client <IP>:<PORT> <tracker_info_file> [--web-port N] [--data-dir DIR]`` is the public syntax (CONTRACT.md);
``--no-tls`` turns the peer transport's TLS off (for measuring what TLS costs; every node of a swarm must agree).
``--upload-limit RATE`` caps what the node uploads to its peers in all (``125M``, ``0`` for no limit); the browser
and the ``set_upload_limit`` command change it later, and the node keeps the latest across restarts.
``--download-limit RATE`` and ``set_download_limit`` do the same for what all its downloads fetch together.
A few hidden options exist for tests and benchmarks (small pieces, short timeouts); they are not in ``--help``.
"""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from peer_node.rates import parse_rate
from peer_node.swarm.server import ServerLimits
from peer_node.web_port import WebLimits
from wire.errors import BadInput
from wire.pieces import is_valid_piece_size
from wire.tracker_list import TrackerAddress, TrackerListError, load_tracker_list, port_number

DEFAULT_WEB_PORT = 8080
PEER_DEFAULTS = ServerLimits()


@dataclass(frozen=True, slots=True)
class NodeConfig:
    piece_host: str
    piece_port: int
    trackers: tuple[TrackerAddress, ...]
    web_port: int = DEFAULT_WEB_PORT
    data_dir: Path = field(default_factory=lambda: Path("peer_data"))
    tracker_list_path: Path | None = None
    peer_tls: bool = True  # pieces travel over TLS with pinned per-node certificates (--no-tls turns it off)
    upload_limit: int | None = None  # bytes a second, 0 for no limit; None: not given, the saved setting holds
    download_limit: int | None = None  # the same, for what all downloads together fetch
    # The piece port's caps and deadlines (``swarm.admission``): reachable from the network, unlike the web port.
    # The defaults are far above a swarm's needs (a download keeps at most 8 peers); hidden options change them.
    peer_limits: ServerLimits = field(default_factory=ServerLimits)
    web_limits: WebLimits = field(default_factory=WebLimits)  # the web port's cap and head deadlines (web_port.py)
    # hidden knobs (tests, benchmarks)
    piece_size: int | None = None  # force this piece size for new shares instead of piece_size_for()
    tracker_timeout_s: float = 10.0  # one HTTP call to one tracker
    tracker_retry_s: float = 6.0  # keep retrying the whole list this long when every tracker fails
    download_stall_s: float = 20.0  # a download with no progress and no reachable seeder this long -> [F]
    resume_check_s: float = 5.0  # first ask about a download that failed for want of a seeder (auto_resume)
    groups_poll_s: float = 5.0  # an open page's news of groups comes this often (groups_poll)
    share_check_s: float = 2.0  # how often each served file is stat-ed for a change (shares.ShareKeeper)
    console: bool | None = None  # None: a prompt when stdin is a terminal
    ready_note: str = ""  # said once the node listens, before its prompt (make run's "open the browser" line)

    @property
    def piece_addr(self) -> str:
        return f"{self.piece_host}:{self.piece_port}"

    @property
    def web_origins(self) -> frozenset[str]:
        return frozenset({f"http://127.0.0.1:{self.web_port}", f"http://localhost:{self.web_port}"})

    @property
    def web_hosts(self) -> frozenset[str]:
        return frozenset({f"127.0.0.1:{self.web_port}", f"localhost:{self.web_port}"})


class ConfigError(ValueError):
    """The command line is wrong; the message says how."""


def parse_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ConfigError(f"{text!r} is not IP:PORT")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ConfigError(f"{host!r} is not an IP address") from None
    else:
        if address.is_unspecified:  # other members are told this address: "anywhere" reaches no one
            raise ConfigError(f"{host} listens everywhere but is no address other members can reach: give this "
                              "machine's own IP (the one they connect to)")
    return host, int(port)


def _web_port(text: str) -> int:
    port = port_number(text)
    if port is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return port


class _Parser(argparse.ArgumentParser):
    """A mistake in the arguments is one line (argparse's usage block before it buried it), as the tracker says
    it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"client: error: {message} (client --help lists the arguments)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="client", description="GroupShare peer node")
    p.add_argument("addr", metavar="IP:PORT", help="where this node's piece server listens")
    p.add_argument("tracker_info", metavar="tracker_info_file", help="the tracker list, in rank order")
    p.add_argument("--web-port", type=_web_port, default=DEFAULT_WEB_PORT,
                   help="browser UI and /cmd on http://127.0.0.1:PORT (default 8080)")
    p.add_argument("--data-dir", default=None, help="state directory (default peer_data/<IP>_<PORT>/)")
    p.add_argument("--no-tls", action="store_true",
                   help="peer connections without TLS (benchmarks only; every node of the swarm must agree)")
    p.add_argument("--upload-limit", metavar="RATE", default=None,
                   help="most bytes a second this node uploads in all, e.g. 125M (1 Gbit/s) or 500kB/s; "
                        "0 for no limit (default: the last limit set, none at first)")
    p.add_argument("--download-limit", metavar="RATE", default=None,
                   help="most bytes a second this node downloads in all, e.g. 10M or 500kB/s; "
                        "0 for no limit (default: the last limit set, none at first)")
    p.add_argument("--piece-size", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--tracker-timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    p.add_argument("--tracker-retry", type=float, default=6.0, help=argparse.SUPPRESS)
    p.add_argument("--download-stall", type=float, default=20.0, help=argparse.SUPPRESS)
    p.add_argument("--resume-check", type=float, default=5.0, help=argparse.SUPPRESS)
    p.add_argument("--groups-poll", type=float, default=5.0, help=argparse.SUPPRESS)
    p.add_argument("--share-check", type=float, default=2.0, help=argparse.SUPPRESS)
    p.add_argument("--no-console", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--peer-max-connections", type=int, default=PEER_DEFAULTS.max_connections, help=argparse.SUPPRESS)
    p.add_argument("--peer-max-per-address", type=int, default=PEER_DEFAULTS.max_per_address, help=argparse.SUPPRESS)
    p.add_argument("--web-max-connections", type=int, default=WebLimits().max_connections, help=argparse.SUPPRESS)
    p.add_argument("--peer-handshake-timeout", type=float, default=PEER_DEFAULTS.handshake_timeout,
                   help=argparse.SUPPRESS)
    p.add_argument("--ready-note", default="", help=argparse.SUPPRESS)
    return p


def _limit(flag: str, text: str | None) -> int | None:
    """A limit given at start: bytes a second, 0 for "no limit"; None when not given (the saved setting holds)."""
    if text is None:
        return None
    try:
        return parse_rate(text) or 0
    except BadInput as exc:
        raise ConfigError(f"{flag}: {exc.message}") from None


def config_from_argv(argv: list[str]) -> NodeConfig:
    """Parse argv (without the program name); raise ConfigError (or SystemExit from argparse for --help)."""
    args = _parser().parse_args(argv)
    host, port = parse_host_port(args.addr)
    try:
        trackers = load_tracker_list(args.tracker_info)
    except TrackerListError as exc:
        raise ConfigError(str(exc)) from None
    if args.piece_size is not None and not is_valid_piece_size(args.piece_size):
        raise ConfigError("--piece-size must be a power of two from 16 KiB to 64 MiB")
    upload_limit = _limit("--upload-limit", args.upload_limit)
    download_limit = _limit("--download-limit", args.download_limit)
    data_dir = Path(args.data_dir) if args.data_dir else Path("peer_data") / f"{host}_{port}"
    for flag, seconds in (("--tracker-timeout", args.tracker_timeout), ("--tracker-retry", args.tracker_retry),
                          ("--download-stall", args.download_stall), ("--resume-check", args.resume_check),
                          ("--groups-poll", args.groups_poll), ("--share-check", args.share_check)):
        if not 0 < seconds <= 86400:
            raise ConfigError(f"{flag}: a number of seconds above 0 and at most 86400")
    if not 0 < args.peer_handshake_timeout <= 86400:
        raise ConfigError("--peer-handshake-timeout: a number of seconds above 0 and at most 86400")
    if not 1 <= args.peer_max_per_address <= args.peer_max_connections:
        raise ConfigError("--peer-max-per-address: at least 1 and at most --peer-max-connections")
    if args.web_max_connections < 1:
        raise ConfigError("--web-max-connections: at least 1")
    pending = min(PEER_DEFAULTS.max_pending_per_address, args.peer_max_per_address)
    peer_limits = ServerLimits(max_connections=args.peer_max_connections, max_per_address=args.peer_max_per_address,
                               max_pending_per_address=pending, handshake_timeout=args.peer_handshake_timeout)
    return NodeConfig(
        piece_host=host, piece_port=port, trackers=tuple(trackers), web_port=args.web_port,
        data_dir=data_dir.absolute(), tracker_list_path=Path(args.tracker_info).absolute(), peer_tls=not args.no_tls,
        upload_limit=upload_limit, download_limit=download_limit, piece_size=args.piece_size,
        tracker_timeout_s=args.tracker_timeout, tracker_retry_s=args.tracker_retry,
        download_stall_s=args.download_stall, resume_check_s=args.resume_check,
        groups_poll_s=args.groups_poll, share_check_s=args.share_check, peer_limits=peer_limits,
        web_limits=WebLimits(max_connections=args.web_max_connections),
        console=False if args.no_console else None, ready_note=args.ready_note,
    )
