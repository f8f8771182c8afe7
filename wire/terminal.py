"""The terminal and the tracker's and the node's consoles: reading commands without being stopped by the terminal,
and the signals that stop either program cleanly (``stop_signals``).

Why: a program started in the background from a shell (``./tracker ... &``) that reads its terminal is stopped by
the kernel (SIGTTIN) at its first read, heartbeats, piece server and all, and a stopped process does not even act
on SIGTERM. So each program ignores SIGTTIN and SIGTTOU while its input is a terminal (``keep_running_in_the
background``), and its console reads only while the program is the terminal's foreground job: in the background it
waits (it is read again after ``fg``), and a read that the kernel refuses because the job was sent to the
background meanwhile (EIO, once SIGTTIN is ignored) is tried again once it is back. Input that is not a terminal
(a pipe, a file) is read as it comes.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Iterator
from typing import TextIO

BACKGROUND_POLL_S = 0.5


def stop_signals() -> list[signal.Signals]:
    """The signals that stop a program cleanly: SIGINT, SIGTERM, and SIGHUP (its terminal closed: stopped cleanly
    rather than killed on the spot) unless it was started to ignore SIGHUP (``nohup``), which it then keeps doing."""
    signals = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signals.append(signal.SIGHUP)
    return signals


def keep_running_in_the_background() -> None:
    """Main thread only (signal handlers): the terminal's job control no longer stops this process."""
    for sig in (signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(sig, signal.SIG_IGN)


def in_foreground(stream: TextIO) -> bool:
    """Whether this process is the foreground job of the terminal ``stream`` is (True for a pipe or a file)."""
    try:
        return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
    except OSError:  # not a terminal, or not ours: nothing to wait for
        return True


def wait_for_foreground(stream: TextIO) -> None:
    while not in_foreground(stream):
        time.sleep(BACKGROUND_POLL_S)


def read_line(stream: TextIO) -> str | None:
    """One line ("" at the end of input), or None when the job went to the background before it was typed: the
    caller waits for the foreground (``wait_for_foreground``) and asks again. Input that cannot be read at all (a
    write-only stdin, as ``nohup`` gives; a terminal gone) is the end of input."""
    try:
        return stream.readline()
    except OSError as exc:
        if exc.errno == errno.EIO and not in_foreground(stream):
            return None
        return ""


def foreground_lines(stream: TextIO) -> Iterator[str]:
    """The lines typed at ``stream``, each read while this process is in the foreground, until end of input."""
    while True:
        wait_for_foreground(stream)
        line = read_line(stream)
        if line == "":
            return
        if line is not None:
            yield line
