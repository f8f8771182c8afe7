"""``python -m peer_node <IP>:<PORT> <tracker_info_file> [--web-port N] [--data-dir DIR]`` (what ./client runs).

Parses argv into a NodeConfig, serves ``create_app(config)`` on 127.0.0.1:<web-port> only, prints one line saying
where the node listens, runs the console prompt when stdin is a terminal, and stops cleanly on SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from aiohttp import web

from peer_node.app import SERVICE, create_app
from peer_node.config import ConfigError, NodeConfig, config_from_argv
from peer_node.console import Console
from peer_node.console_history import HISTORY_NAME
from peer_node.console_news import ConsoleLogHandler, watch
from peer_node.start_errors import names_a_file, start_error
from peer_node.web_port import WebListener
from wire.dir_lock import DataDirError, DirLock
from wire.fd_limit import raise_open_file_limit
from wire.listen_errors import listen_error
from wire.malloc_tuning import fix_malloc_thresholds
from wire.quiet_log import quiet_aiohttp_server_log
from wire.terminal import keep_running_in_the_background, stop_signals

SHUTDOWN_WAIT_S = 3.0
# How long the web port keeps a connection that is between requests: aiohttp's keep-alive timer runs from the
# connection's start or its last answer and is not reset by incoming bytes. aiohttp's default, 3630 s, let 300
# connections that never wrote and 300 that trickled a header byte a second stay for an hour. 75 s outlasts a
# browser's page (it reconnects at once when a kept connection has gone) and nginx's 60 s header timeout. A head
# has a shorter deadline of its own, and the port a connection cap (``web_port.py``).
KEEPALIVE_S = 75.0


def web_runner(app: web.Application, keepalive_timeout: float = KEEPALIVE_S) -> web.AppRunner:
    """The runner of the node's web port. A stop waits ``SHUTDOWN_WAIT_S`` for requests still running (a browser
    upload's body, a long command), not aiohttp's 60 s: SIGTERM during an upload kept the node up for a minute
    while the page said it was still sharing."""
    return web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_WAIT_S,
                         keepalive_timeout=keepalive_timeout)


async def serve(config: NodeConfig) -> int:
    try:
        lock = DirLock.acquire(config.data_dir)
    except DataDirError as exc:
        print(f"client: error: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        return await _serve_locked(config)
    finally:
        lock.release()


async def _serve_locked(config: NodeConfig) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in stop_signals():  # from the start: Ctrl-C while the node starts is a clean stop too
        loop.add_signal_handler(sig, stop.set)
    try:
        app = create_app(config)  # reads and makes the API key, the TLS identity, the browser's key files
    except (OSError, ValueError) as exc:
        print(f"client: error: {start_error(exc, config.data_dir)}", file=sys.stderr, flush=True)
        return 1
    runner = web_runner(app)
    what = f"the piece port {config.piece_host}:{config.piece_port}"
    holder = "another node still running? or choose another IP:PORT"
    try:
        await runner.setup()  # starts the service: state, piece server, heartbeat, resumed downloads
        what = f"the web port 127.0.0.1:{config.web_port}"
        holder = "another node still running? or choose another with --web-port"
        listener = WebListener(runner, config.web_limits)  # a cap and head deadlines (web_port.py)
        await listener.start("127.0.0.1", config.web_port)
    except (OSError, ValueError) as exc:
        if isinstance(exc, OSError) and not names_a_file(exc):  # a bind: files are the state's (start_errors)
            print(f"client: error: cannot listen on {what}: {listen_error(exc, holder)}", file=sys.stderr,
                  flush=True)
        else:
            print(f"client: error: {start_error(exc, config.data_dir)}", file=sys.stderr, flush=True)
        await runner.cleanup()
        return 1
    service = app[SERVICE]
    print(f"GroupShare node: pieces on {config.piece_host}:{service.piece_port}, browser UI and /cmd on "
          f"http://127.0.0.1:{config.web_port}/ (data in {config.data_dir})", flush=True)
    if config.ready_note:  # before the prompt, which must stay the last thing on the screen
        print(config.ready_note, flush=True)
    want_console = config.console if config.console is not None else os.isatty(0)
    console: Console | None = None
    news: asyncio.Task[None] | None = None
    if want_console and not stop.is_set():
        console = Console(service, loop, stop.set, history_path=config.data_dir / HISTORY_NAME)
        console.start()
        news = asyncio.create_task(watch(service, console.say))
        if os.isatty(2):  # warnings as news lines, not written over the prompt (to a file they go as before)
            root = logging.getLogger()
            for handler in root.handlers[:]:
                root.removeHandler(handler)
            root.addHandler(ConsoleLogHandler(console.say))
    try:
        await stop.wait()
    finally:
        if console is not None:
            console.close()
        if news is not None:
            news.cancel()
        listener.close()
        await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    # Before the first login: its password check left 16 MiB in each executor thread (wire.malloc_tuning)
    fix_malloc_thresholds()
    try:
        config = config_from_argv(sys.argv[1:] if argv is None else argv)
    except ConfigError as exc:
        print(f"client: error: {exc}", file=sys.stderr)
        return 2
    raise_open_file_limit()  # a descriptor per file served: 1,024 would cap a node at a few hundred shares
    # At a prompt only warnings are shown, so log lines do not bury what the user types.
    console = config.console if config.console is not None else os.isatty(0)
    if os.isatty(0):
        keep_running_in_the_background()  # started with & from a shell: not stopped by its terminal (terminal.py)
    level = logging.WARNING if console else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    quiet_aiohttp_server_log()  # a traceback per malformed request would fill the log (and the console)
    try:
        return asyncio.run(serve(config))
    except KeyboardInterrupt:  # Ctrl-C before the loop took the signal over: a stop all the same, not a traceback
        return 0


if __name__ == "__main__":
    sys.exit(main())
