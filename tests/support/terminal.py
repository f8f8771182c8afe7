"""A program on a pseudo-terminal of its own, as a user's terminal window runs it: type bytes, wait for what it
shows (every wait with a deadline)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path


class Terminal:
    def __init__(self, argv: list[str], cwd: Path, stderr_too: bool = False, env: dict[str, str] | None = None,
                 stdout_too: bool = True) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, cwd=str(cwd), stdin=slave, stdout=slave if stdout_too else subprocess.PIPE,
                                     stderr=slave if stderr_too else subprocess.DEVNULL, start_new_session=True,
                                     env=None if env is None else {**os.environ, **env})
        os.close(slave)
        self.seen = b""

    def expect(self, text: bytes, timeout: float = 30.0) -> bytes:
        """What the terminal showed up to and with ``text`` (AssertionError if it does not come in time)."""
        end = time.monotonic() + timeout
        while text not in self.seen:
            left = end - time.monotonic()
            assert left > 0, f"did not see {text!r}; saw {self.seen[-500:]!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:  # the other side closed
                    break
        assert text in self.seen, f"did not see {text!r}; saw {self.seen[-500:]!r}"
        out, _, self.seen = self.seen.partition(text)
        return out + text

    def type(self, line: str) -> None:
        os.write(self.master, line.encode("utf-8") + b"\n")

    def keys(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        os.close(self.master)
