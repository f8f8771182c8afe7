"""Processes the bench starts, and how it watches and stops them.

Theory of operation: every child is started through :class:`Procs`, in its own session (so a signal to our
terminal does not hit it twice and its own children can be killed as a group), and recorded. ``Procs`` is a
context manager: on exit — normal, exception or Ctrl-C (turned into KeyboardInterrupt) — it sends SIGTERM to
each process group, waits briefly, then SIGKILL. SIGTERM sent to the bench itself is turned into an exception
too, so the same cleanup runs. :class:`Sampler` polls one process with psutil in a thread and keeps its peak
RSS and CPU seconds since ``start()``; the sampling period is short (20 ms) because peaks are brief.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType

import psutil

REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else "python3"


class Terminated(BaseException):
    """The bench received SIGTERM: unwind so every child is stopped (a BaseException, like KeyboardInterrupt,
    so no scenario's error handling swallows it)."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signum}")


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Ctrl-C raises KeyboardInterrupt even when started from a shell that set SIGINT to ignored (a "&" job).
    signal.signal(signal.SIGINT, signal.default_int_handler)


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the bench dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until something accepts on 127.0.0.1:port; fail early if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening on {port}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")
        time.sleep(0.05)


class Procs:
    """Owns every child process of one scenario run; stops them all on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop_all()

    def spawn(self, name: str, argv: Sequence[str], *, cwd: Path | None = None, stdin_pipe: bool = False,
              stdout_pipe: bool = False, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        err = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = str(REPO) + (":" + full_env["PYTHONPATH"] if full_env.get("PYTHONPATH") else "")
        full_env["PYTHONUNBUFFERED"] = "1"
        if env:
            full_env.update(env)
        proc = subprocess.Popen(
            list(argv), cwd=cwd or REPO, env=full_env, start_new_session=True,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else err, stderr=err, preexec_fn=die_with_parent,
        )
        err.close()  # the child holds its own copy
        self.children.append(proc)
        return proc

    def log_tail(self, name: str, lines: int = 8) -> str:
        """The end of a child's log, for error messages."""
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # a child of the child (e.g. a shell's exec target that forked) may outlive its leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)

    def stop_all(self) -> None:
        # SIGTERM everyone first, then wait: stopping in parallel keeps teardown short
        live = [p for p in self.children if p.poll() is None]
        for p in live:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for p in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.monotonic()))
        for p in self.children:
            self.stop(p, grace=0.1)
        self.children.clear()


class Sampler:
    """Peak RSS and CPU seconds of one process (and its children), sampled in a thread."""

    def __init__(self, pid: int, period: float = 0.02) -> None:
        self.proc = psutil.Process(pid)
        self.period = period
        self.peak_rss = 0
        self._cpu0 = 0.0
        self.cpu_seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _cpu(self) -> float:
        total = 0.0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def _rss(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def start(self) -> Sampler:
        self._cpu0 = self._cpu()
        self.peak_rss = self._rss()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            with contextlib.suppress(psutil.Error):
                self.peak_rss = max(self.peak_rss, self._rss())

    def stop(self) -> Sampler:
        with contextlib.suppress(psutil.Error):
            self.peak_rss = max(self.peak_rss, self._rss())
            self.cpu_seconds = self._cpu() - self._cpu0
        self._stop.set()
        self._thread.join()
        return self


@contextlib.contextmanager
def sampling(pid: int) -> Iterator[Sampler]:
    s = Sampler(pid).start()
    try:
        yield s
    finally:
        s.stop()
