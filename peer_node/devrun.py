"""``make run``: every local tracker of the list as a process, then one node with its UI on port 8080.

Theory of operation: the trackers run in their own sessions (stdin closed, so they do not fight over the
terminal), their output in ``tracker_data/tracker-<n>.log`` (written over the node's prompt, their warnings mixed
with what the user types); the node runs in ours, inheriting the terminal, so its console prompt works and Ctrl-C
reaches it.
When the node ends (Ctrl-C, SIGTERM, or ``quit`` at its prompt) every tracker started here is stopped: SIGTERM,
then SIGKILL after a grace period. Trackers listed on other machines are skipped with a note.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from wire.tracker_list import TrackerAddress, TrackerListError, load_tracker_list

GRACE_S = 5.0


def is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def healthy(t: TrackerAddress) -> bool:
    return _answers(t.url + "/healthz")


def _answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(address, timeout=1) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    end = time.monotonic() + GRACE_S
    for p in procs:
        try:
            p.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def tracker_log(rank: int) -> Path:
    return Path("tracker_data") / f"tracker-{rank}.log"


def last_line(path: Path) -> str:
    """The last line a tracker wrote (why it could not start), or "" for none."""
    try:
        lines = path.read_text("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def tracker_problems(local: list[tuple[TrackerAddress, subprocess.Popen[bytes]]],
                     answers: Callable[[TrackerAddress], bool]) -> list[str]:
    """What to tell about local trackers that did not start: one whose port another tracker already answers on
    (a ``make run`` still going elsewhere, say) is used as it is; one that failed with nothing answering stops us."""
    out = []
    for t, proc in local:
        if proc.poll() is None:
            continue
        if answers(t):
            out.append(f"tracker {t.rank} did not start (its port {t.port} or data dir is taken), but a tracker "
                       "answers there, left running by an earlier run perhaps: using that one (it keeps running "
                       "after this run)")
        else:
            said = last_line(tracker_log(t.rank))
            out.append(f"tracker {t.rank} ({t}) cannot start{': ' + said if said else ''} (its log: "
                       f"{tracker_log(t.rank)}); stopping")
    return out


OLD_TRACKER_GRACE_S = 5.0  # how long a tracker of ours may take to find its port or data dir taken


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make run", description="local trackers and one node with its browser UI")
    ap.add_argument("tracker_info", nargs="?", default="tracker_info.txt")
    ap.add_argument("node", nargs="?", default="127.0.0.1:6881", help="the node's piece server IP:PORT")
    ap.add_argument("--web-port", type=int, default=8080)
    args = ap.parse_args(argv)
    try:
        trackers = load_tracker_list(args.tracker_info)
    except TrackerListError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 2
    list_path = str(Path(args.tracker_info).absolute())
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)  # the terminal closed: the trackers (own sessions) would be left
    started: list[subprocess.Popen[bytes]] = []
    node: subprocess.Popen[bytes] | None = None
    try:
        local: list[tuple[TrackerAddress, subprocess.Popen[bytes]]] = []
        for t in trackers:
            if not is_local(t.host):
                print(f"make run: tracker {t.rank} ({t}) is not on this machine; not started")
                continue
            log_path = tracker_log(t.rank)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as log_file:  # the child keeps its own copy of the descriptor
                proc = subprocess.Popen([sys.executable, "-m", "tracker_server", list_path, str(t.rank)],
                                        stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            started.append(proc)
            local.append((t, proc))
        deadline = time.monotonic() + 30
        for t, proc in local:
            answered_at_once = healthy(t)
            while proc.poll() is None and not healthy(t) and time.monotonic() < deadline:
                time.sleep(0.2)
            # A tracker that answers before ours can have started is one left running (an earlier make run):
            # ours then exits (its port or data dir is taken), and tracker_problems says which one is used.
            grace = time.monotonic() + OLD_TRACKER_GRACE_S
            while answered_at_once and proc.poll() is None and time.monotonic() < grace:
                time.sleep(0.2)
        if local:
            logs = ", ".join(str(tracker_log(t.rank)) for t, _ in local)
            print(f"make run: the trackers write to {logs}", flush=True)
        for line in tracker_problems(local, healthy):
            print(f"make run: {line}", file=sys.stderr, flush=True)
            if "cannot start" in line:
                return 1
        # The browser line, said by the node once the page would load (a node that cannot start says why and
        # exits instead) and before its prompt: said from here, it came after the prompt and left none to see.
        note = f"make run: open http://localhost:{args.web_port}/ in your browser; Ctrl-C stops everything"
        node = subprocess.Popen([sys.executable, "-m", "peer_node", args.node, list_path,
                                 "--web-port", str(args.web_port), "--ready-note", note])
        return node.wait()
    except KeyboardInterrupt:
        if node is not None and node.poll() is None:
            node.send_signal(signal.SIGINT)  # it may have had the terminal's Ctrl-C already: harmless twice
        return 0
    finally:
        stop([node] if node is not None else [])
        stop(started)
        with contextlib.suppress(OSError):  # the terminal may be gone (closed: that is why we stop)
            print("make run: stopped", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
