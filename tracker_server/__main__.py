"""``python -m tracker_server <tracker_info_file> <tracker_no> [options]``: run one tracker of the list.

Parses argv into a frozen ``TrackerConfig`` and serves ``create_app(config)`` on the list's entry ``tracker_no``.
``quit`` typed on stdin stops it; end of input on stdin does not (it may run with no terminal); SIGINT and
SIGTERM stop it cleanly. A malformed list or a number out of range is a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import sys
import threading
from pathlib import Path

from aiohttp import web

from tracker_server.app import create_app
from tracker_server.config import TrackerConfig, load_or_create_secret
from tracker_server.data_identity import describe_start
from tracker_server.fastpath import LINGER, FastPathListener
from tracker_server.keys import SERVICE
from tracker_server.passwords import OWASP_LOG2_N
from tracker_server.signups import DEFAULT_BURST, DEFAULT_INTERVAL
from tracker_server.store import StoreDamaged
from tracker_server.write_rate import DEFAULT_WRITE_BURST, DEFAULT_WRITE_INTERVAL
from wire.conn_guard import DEFAULT_MAX_PER_ADDRESS, Deadlines
from wire.dir_lock import DataDirError, DirLock
from wire.fd_limit import raise_open_file_limit
from wire.listen_errors import CannotListen, listen_error
from wire.quiet_log import quiet_aiohttp_server_log
from wire.terminal import foreground_lines, keep_running_in_the_background, stop_signals
from wire.tracker_list import TrackerListError, load_tracker_list


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"tracker: {message}\n")


def _tracker_no(text: str) -> int:
    """ASCII digits only (``int`` would also take ``١``)."""
    if text.startswith("-") and text[1:].isascii() and text[1:].isdigit():
        raise argparse.ArgumentTypeError(f"tracker number {text} is out of range: it counts from 1")
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    return int(text)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = _Parser(prog="tracker", description="GroupShare tracker")
    p.add_argument("tracker_info_file", type=Path)
    p.add_argument("tracker_no", type=_tracker_no)
    p.add_argument("--data-dir", type=Path, help="state directory (default tracker_data/<tracker_no>/)")
    p.add_argument("--secret-file", type=Path, help="cluster secret (default cluster.secret beside the list)")
    p.add_argument("--peer-timeout", type=float, default=15.0,
                   help="seconds without heartbeat until a peer is dead (default 15, at most 3600)")
    p.add_argument("--token-ttl", type=float, default=300.0,
                   help="lifetime of access tokens in seconds (default 300, at most 86400)")
    p.add_argument("--tracker-timeout", type=float, default=2.0,
                   help="seconds of primary silence before a secondary takes over (default 2, at most 600)")
    p.add_argument("--scrypt-log2n", type=int, default=OWASP_LOG2_N,
                   help="scrypt cost as log2(N); the default is OWASP's (17); lower only for tests")
    p.add_argument("--signup-burst", type=int, default=DEFAULT_BURST,
                   help="sign-ups one client address may make at once (default 50: a class behind one NAT)")
    p.add_argument("--signup-interval", type=float, default=DEFAULT_INTERVAL,
                   help="seconds per sign-up an address regains after its burst (default 10)")
    p.add_argument("--max-conns-per-address", type=int, default=DEFAULT_MAX_PER_ADDRESS,
                   help=f"simultaneous connections one client address (IPv6: its /64) may hold "
                        f"(default {DEFAULT_MAX_PER_ADDRESS}: many nodes behind one NAT)")
    p.add_argument("--write-burst", type=int, default=DEFAULT_WRITE_BURST,
                   help="writes one user (and logins one address) may make at once (default 300)")
    p.add_argument("--write-interval", type=float, default=DEFAULT_WRITE_INTERVAL,
                   help="seconds per write a user (or login an address) regains after the burst (default 0.5)")
    p.add_argument("--address-hashes", type=int, default=1,
                   help="password checks one client address may have in progress at once (default 1)")
    # Log compaction windows (compaction.py), hidden: tests shorten them; an operator has no reason to.
    p.add_argument("--log-keep-entries", type=int, default=10_000, help=argparse.SUPPRESS)
    p.add_argument("--log-keep-seconds", type=float, default=3600.0, help=argparse.SUPPRESS)
    p.add_argument("--compact-every", type=float, default=60.0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> TrackerConfig:
    """Raises TrackerListError (one line naming the line) or ValueError for bad arguments."""
    trackers = load_tracker_list(args.tracker_info_file)
    if not 1 <= args.tracker_no <= len(trackers):
        raise TrackerListError(f"tracker_no {args.tracker_no} is out of range: "
                               f"{args.tracker_info_file} lists {len(trackers)} tracker(s)")
    if not 0 < args.peer_timeout <= 3600 or not 0 < args.token_ttl <= 86400 or not 0 < args.tracker_timeout <= 600:
        raise ValueError("timeouts must be positive (peer <= 3600 s, token ttl <= 1 day, tracker <= 600 s)")
    if not 10 <= args.scrypt_log2n <= 20:
        raise ValueError("--scrypt-log2n must be 10-20")
    if not 1 <= args.signup_burst <= 10_000_000 or not 0 < args.signup_interval <= 86400:
        raise ValueError("--signup-burst must be 1-10000000 and --signup-interval 0-86400 s")
    if not 1 <= args.max_conns_per_address <= 1_000_000:
        raise ValueError("--max-conns-per-address must be 1-1000000")
    if not 1 <= args.write_burst <= 10_000_000 or not 0 < args.write_interval <= 86400 \
            or not 1 <= args.address_hashes <= 1000:
        raise ValueError("--write-burst must be 1-10000000, --write-interval 0-86400 s, --address-hashes 1-1000")
    if not 0 <= args.log_keep_entries <= 100_000_000 or not 0 <= args.log_keep_seconds <= 10 * 365 * 86400 \
            or not 0 < args.compact_every <= 86400:
        raise ValueError("--log-keep-entries must be 0-100000000, --log-keep-seconds 0-10 years, --compact-every "
                         "0-86400 s")
    secret_file = args.secret_file or args.tracker_info_file.resolve().parent / "cluster.secret"
    try:
        secret = load_or_create_secret(secret_file)
    except OSError as exc:
        raise ValueError(f"cannot use secret file {secret_file}: {exc.strerror or exc}") from None
    data_dir = args.data_dir or Path("tracker_data") / str(args.tracker_no)
    return TrackerConfig(trackers=tuple(trackers), tracker_no=args.tracker_no, data_dir=data_dir, secret=secret,
                         peer_timeout=args.peer_timeout, token_ttl=args.token_ttl,
                         tracker_timeout=args.tracker_timeout, tracker_heartbeat=args.tracker_timeout / 4,
                         scrypt_log2_n=args.scrypt_log2n, signup_burst=args.signup_burst,
                         signup_interval=args.signup_interval, write_burst=args.write_burst,
                         write_interval=args.write_interval, hashes_per_address=args.address_hashes,
                         log_keep_entries=args.log_keep_entries, log_keep_seconds=args.log_keep_seconds,
                         compact_every=args.compact_every)


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Thread: ``quit`` stops the tracker; end of input only ends this thread (the tracker keeps running). No
    stdin at all (started with ``<&-``: Python's ``sys.stdin`` is None) is no input."""
    if sys.stdin is None:
        return
    for line in foreground_lines(sys.stdin):  # not read in the background: the shell would stop the tracker
        if line.strip().lower() in ("quit", "exit"):  # as the node's prompt takes them
            loop.call_soon_threadsafe(stop.set)
            return
        if line.strip():
            print("tracker: the console knows one command: quit", file=sys.stderr, flush=True)
    if sys.stdin.isatty() and not stop.is_set():
        print("tracker: (end of input: the tracker keeps running; stop it with Ctrl-C or SIGTERM)", file=sys.stderr,
              flush=True)


# The cyclic GC, tuned for a server whose heap is mostly long-lived state (users, sessions, groups, op results:
# some 150,000 objects at 10,000 peers). With the defaults (700, 10, 10) the objects of the ~200 requests in
# flight at each young collection got promoted, and a full collection (50-70 ms with the loop stopped) ran every
# 2-5 s under load: that pause was the hot path's p99. Young collections every 20,000 allocations (under 20 ms)
# promote 30 times less; a full one runs after 100 middle ones. Memory held by unreachable cycles grows by at most
# that many young objects. Measured: bench/HISTORY.md, "Tracker hot path tuning".
GC_THRESHOLDS = (20_000, 50, 100)


def _tune_gc() -> None:
    """Called once the durable state is loaded: keep it out of every collection (it holds no cycles to free)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def app_runner(app: web.Application) -> web.AppRunner:
    """aiohttp's side of the listener, for the connections the fast path hands over. Idle ones close as on the
    fast path (aiohttp's keep-alive timer runs from the hand-off or the last answer; bytes do not reset it); a
    head must be complete within the fast path's request deadline of its first byte (``wire.head_clock``). After
    a refusal sent before the body was read (a 408 or 413), aiohttp reads and drops what still comes for
    ``lingering_time`` before closing, so that the client reads the answer rather than a reset; its 10 s default
    would let a refused client hold the connection that long."""
    return web.AppRunner(app, handle_signals=False, access_log=None, keepalive_timeout=Deadlines().idle,
                         lingering_time=LINGER)


async def serve(config: TrackerConfig, max_per_address: int = DEFAULT_MAX_PER_ADDRESS) -> None:
    lock = DirLock.acquire(config.data_dir)  # DataDirError: main says why and exits
    try:
        await _serve_locked(config, max_per_address)
    finally:
        lock.release()


async def _serve_locked(config: TrackerConfig, max_per_address: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in stop_signals():
        loop.add_signal_handler(sig, stop.set)
    app = create_app(config)
    runner = app_runner(app)
    await runner.setup()
    _tune_gc()
    listener: FastPathListener | None = None
    try:
        try:
            listener = await FastPathListener.start(runner, app, config.me.host, config.me.port, config.max_body,
                                                  max_per_address=max_per_address)
        except OSError as exc:  # only the bind: a data dir that cannot be written is said otherwise
            holder = "another tracker of this list still running?"
            raise CannotListen(f"cannot listen on {config.me}: {listen_error(exc, holder)}") from None
        found = describe_start(app[SERVICE].state.index, config.tracker_no, len(config.trackers))
        print(f"tracker {config.tracker_no} listening on {config.me.url} (data in {config.data_dir}, {found})",
              flush=True)
        threading.Thread(target=_watch_stdin, args=(loop, stop), daemon=True, name="stdin").start()
        await stop.wait()
    finally:
        if listener is not None:
            listener.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s tracker %(levelname)s %(name)s: %(message)s")
    quiet_aiohttp_server_log()  # a traceback per malformed request would let anyone fill the log
    try:
        config = build_config(args)
    except (TrackerListError, ValueError) as exc:
        print(f"tracker: {exc}", file=sys.stderr)
        return 2
    raise_open_file_limit()  # a descriptor per connection: thousands of nodes would pass 1,024
    if os.isatty(0):
        keep_running_in_the_background()  # started with & from a shell: not stopped by its terminal (terminal.py)
    try:
        asyncio.run(serve(config, args.max_conns_per_address))
    except (DataDirError, StoreDamaged, CannotListen) as exc:
        print(f"tracker: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the data dir is not writable, the disk is full...
        where = f" ({exc.filename})" if exc.filename else f" (data dir {config.data_dir})"
        print(f"tracker: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
