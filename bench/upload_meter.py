"""Bytes a server uploaded on its listening port, measured by the kernel, not by the program under test.

Theory of operation: every TCP connection accepted on ``port`` has that port as its local (source) port. The
kernel keeps ``bytes_sent`` per socket (tcp_info) and reports it through sock_diag, which ``ss`` prints. A socket
that closes takes its counter with it, so a background ``ss -E`` (root: it subscribes to socket-destroy events)
records each socket's final counter as it goes, and a snapshot at the end adds the sockets still open. A snapshot
at the start is subtracted, so connections that existed before count only what they sent during the window.
Sockets are keyed by (local, peer) address; the largest value seen for a key wins. The same meter is used for
libtorrent and for GroupShare, so their figures compare.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterable

from bench.procs import die_with_parent

_SENT = re.compile(r"\bbytes_sent:(\d+)")


def parse_ss(lines: Iterable[str]) -> dict[tuple[str, str], int]:
    """Pairs of (header line, info line) from ``ss -tinH`` -> {(local, peer): bytes_sent} (pure)."""
    out: dict[tuple[str, str], int] = {}
    key: tuple[str, str] | None = None
    for line in lines:
        if not line.strip():
            continue
        if not line[0].isspace():
            words = line.split()
            # state recv-q send-q local peer [process]; with -E the state column may read UNCONN
            key = (words[3], words[4]) if len(words) >= 5 else None
            continue
        if key is not None:
            m = _SENT.search(line)
            if m:
                out[key] = max(out.get(key, 0), int(m.group(1)))
            key = None
    return out


def _snapshot(port: int) -> dict[tuple[str, str], int]:
    res = subprocess.run(["ss", "-tinH", "state", "all", "sport", "=", f":{port}"],
                         capture_output=True, text=True, timeout=10, check=False)
    return parse_ss(res.stdout.splitlines())


class UploadMeter:
    """Counts bytes sent from 127.0.0.1:<port> between ``start()`` and ``stop()``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._base: dict[tuple[str, str], int] = {}
        self._seen: dict[tuple[str, str], int] = {}
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> UploadMeter:
        self._proc = subprocess.Popen(
            ["stdbuf", "-oL", "ss", "-tinHE", "sport", "=", f":{self.port}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
            preexec_fn=die_with_parent)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self._base = _snapshot(self.port)
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        pending: list[str] = []
        for line in self._proc.stdout:
            pending.append(line)
            if line[:1].isspace():
                found = parse_ss(pending)
                pending.clear()
                with self._lock:
                    for k, v in found.items():
                        self._seen[k] = max(self._seen.get(k, 0), v)

    def stop(self) -> int:
        """Total bytes sent in the window."""
        final = _snapshot(self.port)
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(3)
        if self._thread is not None:
            self._thread.join(3)
        with self._lock:
            seen = dict(self._seen)
        for k, v in final.items():
            seen[k] = max(seen.get(k, 0), v)
        return sum(max(0, v - self._base.get(k, 0)) for k, v in seen.items())
