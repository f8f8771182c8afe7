"""A tracker and a node started in the background from an interactive shell (``... &``) keep running: the shell's
job control would stop a background job at its first read of the terminal (SIGTTIN), and a stopped one serves
nothing and ignores SIGTERM (``wire/terminal.py``). The node's prompt comes back with ``fg``.

The shell is a real ``bash -i`` on a pseudo-terminal, as a user's terminal window is."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import termios
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.ports import free_port
from tests.support.cluster import wait_until

ROOT = Path(__file__).resolve().parents[2]


class Shell:
    """An interactive bash on a pseudo-terminal: type lines, read what it shows."""

    def __init__(self) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: bash with job control, its controlling terminal the pty
            env = {**os.environ, "PS1": "$ ", "TERM": "dumb"}
            os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)
        self.seen = ""

    def type(self, line: str) -> None:
        os.write(self.fd, (line + "\n").encode())

    def expect(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        end = time.monotonic() + timeout
        while (found := re.search(pattern, self.seen)) is None:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{pattern!r} not shown; the terminal shows:\n{self.seen[-2000:]}")
            if select.select([self.fd], [], [], min(left, 0.2))[0]:
                with contextlib.suppress(OSError):
                    self.seen += os.read(self.fd, 65536).decode("utf-8", "replace")
        return found

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def shell() -> Iterator[Shell]:
    sh = Shell()
    started: list[int] = []
    sh.started = started  # type: ignore[attr-defined]
    try:
        sh.expect(r"\$ ")
        yield sh
    finally:
        for pid in started:  # whatever the test left: woken, then killed
            for sig in (signal.SIGCONT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        sh.close()


def start_in_background(sh: Shell, command: str) -> int:
    sh.type(f"{command} & echo PID=$!")
    pid = int(sh.expect(r"PID=(\d+)").group(1))
    sh.started.append(pid)  # type: ignore[attr-defined]
    return pid


def answers(port: int) -> bool | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status == 200 or None
    except OSError:
        return None


def gone(pid: int) -> bool | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return None


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_tracker_started_with_an_ampersand_serves_and_stops_on_sigterm(shell: Shell, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "trackers.txt").write_text(f"127.0.0.1:{port}\n", encoding="utf-8")
    pid = start_in_background(shell, f"{ROOT / 'tracker'} {tmp_path / 'trackers.txt'} 1 "
                                     f"--data-dir {tmp_path / 'data'} --scrypt-log2n 10")
    wait_until(lambda: answers(port), 30, "the background tracker to answer")
    assert process_state(pid) != "T"  # not stopped by the terminal
    shell.type("kill %1")  # SIGTERM, as a user stops a background job
    wait_until(lambda: gone(pid), 30, "the tracker to stop on SIGTERM")


def test_a_node_started_with_an_ampersand_serves_and_prompts_once_brought_back_with_fg(shell: Shell,
                                                                                    tmp_path: Path) -> None:
    web_port, tracker_port = free_port(), free_port()
    (tmp_path / "trackers.txt").write_text(f"127.0.0.1:{tracker_port}\n", encoding="utf-8")  # none needed here
    pid = start_in_background(shell, f"{ROOT / 'client'} 127.0.0.1:{free_port()} {tmp_path / 'trackers.txt'} "
                                     f"--web-port {web_port} --data-dir {tmp_path / 'node'}")
    wait_until(lambda: answers(web_port), 30, "the background node to answer")
    assert process_state(pid) != "T"
    assert "groupshare> " not in shell.seen  # no prompt drawn over the shell's while in the background
    shell.type("fg")
    shell.expect("groupshare> ")  # back in front: its prompt
    shell.type("quit")
    wait_until(lambda: gone(pid), 30, "the node to stop on quit")


def node_pid(data_dir: Path) -> int | None:
    """The pid of the node running on ``data_dir`` (the client script execs Python: one process)."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if entry.name.isdigit() and b"peer_node" in argv and str(data_dir).encode() in argv:
                return int(entry.name)
    return None


def test_a_node_sent_to_the_background_at_its_prompt_leaves_the_shells_terminal_as_the_shell_set_it(
        shell: Shell, tmp_path: Path) -> None:
    """At its prompt the node's readline holds the terminal (its own settings); Ctrl-Z and ``bg`` give the terminal
    back to the shell, whose line editor sets its own. A node stopped there (SIGTERM from elsewhere) must not put
    back the settings its prompt found over the shell's: the shell's line would echo every key twice."""
    (tmp_path / "trackers.txt").write_text(f"127.0.0.1:{free_port()}\n", encoding="utf-8")
    shell.type(f"{ROOT / 'client'} 127.0.0.1:{free_port()} {tmp_path / 'trackers.txt'} --web-port {free_port()} "
               f"--data-dir {tmp_path / 'node'}")
    shell.expect("groupshare> ")
    pid = node_pid(tmp_path / "node")
    assert pid is not None
    shell.started.append(pid)  # type: ignore[attr-defined]
    os.write(shell.fd, b"\x1a")  # Ctrl-Z
    shell.expect(r"Stopped")
    shell.type("bg")
    shell.expect(r"&\r\n\$ ")  # the shell's prompt, its line editor waiting for keys
    shells_own = termios.tcgetattr(shell.fd)
    assert not shells_own[3] & termios.ICANON
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: gone(pid), 30, "the node to stop on SIGTERM")
    assert termios.tcgetattr(shell.fd)[3] == shells_own[3]
