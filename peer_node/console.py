"""The console prompt: the same commands as ``/cmd``, typed at the terminal that started the node.

Theory of operation: a daemon thread reads lines from stdin (blocking, so never on the event loop) and
submits each to the loop with ``run_coroutine_threadsafe``, waiting for its output before prompting again. End of
input ends the prompt only, never the node (the contract: the node may outlive its terminal). ``quit`` at the
prompt stops the node. A long ``upload_file`` draws a progress bar, fed by the hashing thread. News (a download
done, an answer to a request to join, a warning: ``console_news``) is said by ``say``; one lock keeps its lines and
the prompt's whole.

On a terminal (stdin and stdout both), lines are read with readline (``line_editor``): editing, history kept across
restarts, Tab completion (group ids and file names too, from what the node has heard: ``completion_cache``; what
is missing is asked for on the event loop, and waited for a moment only when Tab has nothing else), and news
written above the line being typed, which is then drawn again as it was. Else (stdout redirected) the prompt is
read as a plain line, and news goes under its line, then a fresh prompt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from peer_node.commands import HELP_WIDTH, run_command
from peer_node.completion_cache import KnownValues, Want
from peer_node.line_editor import open_editor
from peer_node.service import NodeService
from peer_node.units import human_size
from wire.errors import GroupShareError
from wire.safe_text import printable
from wire.terminal import in_foreground, read_line, wait_for_foreground

PROMPT = "groupshare> "
TAB_HELP = "complete a command, a path, or one of your group ids, file names or requests to join"
BAR_WIDTH = 30


def render_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """``[#########.....]  45%  1.2 of 2.0 GiB`` (pure: tested without a terminal)."""
    frac = 1.0 if total <= 0 else min(1.0, done / total)
    filled = int(frac * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {int(frac * 100):3d}%  {human_size(done)} of {human_size(total)}"


class ProgressBar:
    """A progress callback that redraws one terminal line at most every ``every_s`` seconds; nothing once
    finished (the hashing thread may call it once more before it sees it was stopped)."""

    def __init__(self, write: Callable[[str], object], every_s: float = 0.1) -> None:
        self.write = write
        self.every_s = every_s
        self._last = float("-inf")  # the first call always draws
        self.drawn = False
        self.finished = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.finished or (done < total and now - self._last < self.every_s):
            return
        self._last = now
        self.write("\r" + render_bar(done, total))
        self.drawn = True

    def finish(self) -> None:
        if self.drawn and not self.finished:
            self.write("\n")
        self.finished = True


class Console:
    def __init__(self, service: NodeService, loop: asyncio.AbstractEventLoop, on_quit: Callable[[], None],
                 out: TextIO = sys.stdout, inp: TextIO = sys.stdin, history_path: Path | None = None) -> None:
        self.service = service
        self.loop = loop
        self.on_quit = on_quit
        self.out = out
        self.inp = inp
        if isinstance(inp, io.TextIOWrapper):  # bytes that are not UTF-8 reach run_line as surrogates, not a crash
            inp.reconfigure(errors="surrogateescape")
        self._thread = threading.Thread(target=self._run, name="console", daemon=True)
        self._lock = threading.Lock()
        self._at_prompt = False  # the prompt is the last thing on the screen: news goes under its line
        self._closed = False  # the node is stopping, or the terminal is gone: nothing more is read or written
        self._news: list[str] = []  # said while readline holds the line: shown by the console thread (_show_news)
        values = KnownValues(lambda: self.service.completion.known, self._ask,
                             logged_in=lambda: self.service.state.session is not None)
        self._editor = open_editor(inp, out, history_path, self._show_news, values)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """The node is stopping: the prompt takes no more lines and nothing more is written (a command cut short
        says nothing; the shell's prompt comes next on a line of its own)."""
        with self._lock:
            if not self._closed and self._at_prompt:
                if self._editor is not None:
                    self._editor.release()
                self._put("\n")
            self._closed = True
        if self._editor is not None:
            self._editor.close()

    def say(self, line: str) -> None:
        """A line of news, from any thread: above the line being edited (``_show_news``), or under the plain
        prompt's line when one is waiting, a fresh prompt after it.
        Its control characters are replaced: a terminal obeys an escape sequence in anything it prints."""
        line = printable(line, keep="\n")
        with self._lock:
            if not in_foreground(self.inp):  # a background job's line among the shell's: no prompt of ours
                self._put(f"{line}\n")
            elif self._at_prompt and self._editor is not None:
                self._news.append(line)  # readline is the console thread's alone: it shows it, between keystrokes
            elif self._at_prompt:
                # Below the prompt line, not over it: what the user may have typed there stays in sight (the
                # terminal holds it, unseen by us, until Enter), and a fresh prompt follows.
                self._put(f"\n{line}\n{PROMPT}")
            else:  # from the line's start, erased first: a progress bar draws itself again under it
                self._put(f"\r\x1b[K{line}\n")

    def _write(self, text: str) -> None:
        with self._lock:
            self._put(text)

    def _put(self, text: str) -> None:
        """Write, the lock held. A terminal that is gone (closed: EIO) ends the console, quietly."""
        if self._closed:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except OSError:
            self._closed = True

    def _prompt(self) -> None:
        with self._lock:
            # the prompt goes to our output stream, not where input() would put it (stderr, on some terminals)
            self._put(PROMPT)
            self._at_prompt = True

    def _read(self) -> str | None:
        """A line as ``read_line`` gives it: "" at the end of input, None when sent to the background."""
        if self._editor is None:
            self._prompt()
            line = read_line(self.inp)
            self._at_prompt = False
            return line
        with self._lock:
            self._at_prompt = True  # readline draws the prompt (on stdout: it is a terminal)
        try:
            return self._editor.read(PROMPT) + "\n"
        except EOFError:  # Ctrl-D, or a read the terminal refused (EIO) as the job went to the background
            return "" if in_foreground(self.inp) else None
        finally:
            with self._lock:
                self._at_prompt = False
                news, self._news = self._news, []
                for line in news:  # came as the line ended: under it, as while a command runs
                    self._put(f"\r\x1b[K{line}\n")

    def _ask(self, want: Want) -> None:
        """What Tab found missing, listed on the event loop (readline's completer: the console thread)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the node is stopping
            self.loop.call_soon_threadsafe(self.service.refresh_known, want)

    def _show_news(self) -> None:
        """The news said while readline holds the line, above it; the prompt and the typed line drawn again below.
        Readline's input hook: the console thread, between two keystrokes."""
        with self._lock:
            if not self._news or self._closed or not self._at_prompt or self._editor is None:
                return
            text = "".join(f"{line}\n" for line in self._news)
            self._news = []
            if not in_foreground(self.inp):  # gone to the background meanwhile: no prompt of ours among the shell's
                self._put(text)
                return
            if not self._editor.clear_line():
                text = "\r\x1b[K" + text
            self._put(text)
            if not self._closed:
                self._editor.redisplay(PROMPT)

    def _run(self) -> None:
        while True:
            wait_for_foreground(self.inp)  # a node started with & waits here, not stopped by the shell (terminal.py)
            line = self._read()
            if self._closed:  # the node is stopping: a line typed now is not run, nor taken from the shell
                return
            if line is None:  # sent to the background while at the prompt: prompt again once back
                continue
            if not line:
                self._write("\n(end of input: the prompt is closed; the node keeps running: stop it with Ctrl-C or "
                            "SIGTERM)\n")
                return
            if self._editor is not None:
                self._editor.remember(line.removesuffix("\n"))
            if not line.strip():
                continue
            if any("\udc80" <= ch <= "\udcff" for ch in line):  # bytes the terminal's encoding could not decode
                self._write("error: the command is not UTF-8 text\n")  # as /cmd says it
                continue
            if line.strip().lower() in ("quit", "exit"):  # as the tracker's console takes them
                self.loop.call_soon_threadsafe(self.on_quit)
                return
            if line.split()[0].lower() in ("quit", "exit"):
                self._write("usage: quit (or exit), with nothing after it\n")
                continue
            text = self.run_line(line)
            if line.split()[0] == "help" and not text.startswith("error:"):
                text += f"{'quit (or exit)'.ljust(HELP_WIDTH)}  stop this node (at this prompt only)\n"
                if self._editor is not None:  # only a terminal's prompt completes
                    text += f"{'Tab'.ljust(HELP_WIDTH)}  {TAB_HELP}\n"
            self._write(text)

    def run_line(self, line: str) -> str:
        bar = ProgressBar(self._write)
        future = asyncio.run_coroutine_threadsafe(run_command(self.service, line, bar), self.loop)
        try:
            text = future.result()
        except GroupShareError as exc:
            text = f"error: {exc.message}\n"
        except concurrent.futures.CancelledError:  # the node stopped while it ran: nothing to say
            text = ""
        finally:
            bar.finish()
        return text
