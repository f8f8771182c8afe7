"""Starting real ``./tracker`` processes for tests: free loopback ports, temp dirs, always stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def write_tracker_list(tmp: Path, count: int) -> tuple[Path, list[int]]:
    ports = [free_port() for _ in range(count)]
    path = tmp / "trackers.txt"
    path.write_text("".join(f"127.0.0.1:{p}\n" for p in ports), encoding="utf-8")
    return path, ports


class TrackerProc:
    """One ``./tracker`` process; stdin is a pipe so tests can type ``quit`` or close it."""

    def __init__(self, list_file: Path, number: int, data_dir: Path, *extra: str) -> None:
        self.number = number
        self.log_path = data_dir.with_suffix(".log")
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        argv = [str(ROOT / "tracker"), str(list_file), str(number), "--data-dir", str(data_dir),
                "--scrypt-log2n", "10", *extra]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     cwd=str(list_file.parent), start_new_session=True)
        assert self.proc.stdout is not None
        self.banner = self.proc.stdout.readline().decode("utf-8", "replace")

    def type(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode("utf-8"))
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def wait(self, timeout: float = 20) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Always safe: SIGTERM, then SIGKILL if it lingers; reap; close pipes."""
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
        self._log.close()


def http(port: int, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None,
         timeout: float = 10) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_healthy(port: int, timeout: float = 20) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        try:
            status, body = http(port, "GET", "/healthz", timeout=2)
            if status == 200:
                return dict(body)
        except OSError:
            pass
        if time.monotonic() > end:
            raise TimeoutError(f"tracker on port {port} not healthy after {timeout} s")
        time.sleep(0.05)
