"""Line editing at the node's prompt, when the console is a terminal: the standard library's ``readline`` (GNU
readline or libedit, whichever Python was built with), its history kept in the data directory, Tab completion.

Theory of operation: importing ``readline`` is what makes ``input()`` edit lines, so it is imported only when
stdin and stdout are both terminals (``can_edit``); piped or redirected, the console reads as it always did, byte
for byte. The console thread reads each line with ``input()``.

Readline is not thread-safe, and Python runs it without the GIL while it handles a keystroke, so no other
thread may call into it (a ``redisplay`` from the event loop could read the line buffer as readline reallocates
it). News is therefore shown by the console thread itself: while readline waits for a key it calls
``PyOS_InputHook`` every 0.1 s, a C API hook of Python's (tkinter and IPython's inputhooks set it the same way,
through ctypes), and the hook (``on_idle``) erases the line being typed, writes the news and draws the prompt
and the line again (``clear_line``, ``redisplay``), the cursor where it was. The module's own ``redisplay`` only
moves the cursor (it takes the line as still on the screen) and it cannot erase a line that wraps, so GNU
readline's functions for both are reached through ctypes too. Without readline or the hook: plain lines.

A node stopped while readline holds the terminal (Ctrl-C, SIGTERM) would leave the shell without echo: readline
restores the terminal only when a line ends, so ``release`` puts back the settings the prompt found. Only while the
node is the terminal's foreground job: sent to the background at the prompt (Ctrl-Z, ``bg``), it has given the
terminal to the shell, whose own settings must stay (with the prompt's, the shell's line echoed each key twice). For
the same reason readline does not read the terminal in the background (the hook waits for the foreground first):
the read would fail (EIO), which ends readline's line and so puts its settings back, under the shell. Back in
front, the hook sets readline's settings again and draws the prompt and the line, as they were.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import sys
import termios
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from peer_node.console_completion import Values, completions, list_dir, no_values
from peer_node.console_history import HISTORY_LINES, history_entry, kept, load_history, save_history
from wire.terminal import in_foreground, wait_for_foreground

log = logging.getLogger(__name__)

_HOOK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int)
_LIVE_HOOKS: list[object] = []  # never freed: readline's thread may be calling one as the node exits
BRACKETED_PASTE_OFF = "\x1b[?2004l"


def can_edit(inp: TextIO, out: TextIO) -> bool:
    """Whether the console is the process's own terminal, both ways (``input()`` edits only then)."""
    try:
        return inp is sys.stdin and out is sys.stdout and inp.isatty() and out.isatty()
    except ValueError:  # closed
        return False


def open_editor(inp: TextIO, out: TextIO, history_path: Path | None,
                on_idle: Callable[[], None], values: Values = no_values) -> LineEditor | None:
    """A line editor for a console that is a terminal both ways; None (plain lines, as before) otherwise, or when
    this Python has no readline (built without it) or no hook to reach (not CPython). ``values``: what Tab offers
    for group ids, file names and requesters (``console_completion``)."""
    if not can_edit(inp, out):
        return None
    try:
        return LineEditor(history_path, on_idle, values)
    except (ImportError, ValueError, AttributeError) as exc:
        log.info("no line editing at the prompt: %s", exc)
        return None


class LineEditor:
    def __init__(self, history_path: Path | None, on_idle: Callable[[], None], values: Values = no_values) -> None:
        import readline  # here, not at the top: the import alone turns input() into line editing

        self._rl: ModuleType = readline
        self._history_path = history_path
        self._on_idle = on_idle
        self._values = values
        self._saved_tty: list[Any] | None = None  # the terminal's settings before readline took it
        self._reading = False
        self._warned = False
        libedit = "libedit" in (readline.__doc__ or "")
        readline.parse_and_bind("bind ^I rl_complete" if libedit else "tab: complete")
        if not libedit:  # an edited line of the history is put back as it was: a password typed after a
            readline.parse_and_bind("set revert-all-at-newline on")  # recalled "login alice" stays out of it
        readline.set_auto_history(False)  # history_entry decides what is kept
        readline.set_completer_delims(" \t\n")
        readline.set_completer(self._complete)
        self._matches: list[str] = []
        for entry in load_history(history_path) if history_path is not None else []:
            readline.add_history(entry)
        self._clear_visible, self._redraw, self._fflush, self._reprep = _c_functions(readline)
        self._hook = _HOOK_TYPE(self._idle)
        _LIVE_HOOKS.append(self._hook)
        self._hook_slot = ctypes.c_void_p.in_dll(ctypes.pythonapi, "PyOS_InputHook")
        self._hook_slot.value = ctypes.cast(self._hook, ctypes.c_void_p).value
        atexit.register(self.close)

    # --- the console thread
    def read(self, prompt: str) -> str:
        """One line, edited (EOFError at the end of input, or when the terminal cannot be read)."""
        try:
            self._saved_tty = termios.tcgetattr(sys.stdin.fileno())
        except termios.error:
            self._saved_tty = None
        self._reading = True
        try:
            return input(prompt)
        finally:
            self._reading = False

    def remember(self, line: str) -> None:
        """Keep what ``line`` leaves in the history (``history_entry``), in memory and in the file."""
        entry = history_entry(line)
        rl = self._rl
        length = rl.get_current_history_length()
        if entry is None or (length and rl.get_history_item(length) == entry):
            return
        rl.add_history(entry)
        while rl.get_current_history_length() > HISTORY_LINES:
            rl.remove_history_item(0)
        if self._history_path is None:
            return
        entries = [rl.get_history_item(i) for i in range(1, rl.get_current_history_length() + 1)]
        try:
            save_history(self._history_path, kept([e for e in entries if e is not None]))
        except OSError as exc:
            if not self._warned:  # once: the history is a help, not worth a warning at every line
                self._warned = True
                log.warning("cannot keep the prompt's history in %s: %s", self._history_path, exc.strerror)

    def clear_line(self) -> bool:
        """Erase the line being typed, all of its screen rows, the cursor left at its start; False when only
        the caller can (the cursor's row: ``\\r\\x1b[K``). From ``on_idle`` only."""
        if self._clear_visible is None:
            return False
        self._clear_visible()
        self._fflush(None)  # readline writes through C's stdout; what we write next goes through Python's
        return True

    def redisplay(self, prompt: str) -> None:
        """Draw ``prompt`` and the line typed so far again from the cursor's row, which the prompt's line left
        (``readline.redisplay`` alone would only move the cursor: it takes the line as still on the screen).
        From ``on_idle`` only."""
        if self._redraw is not None:
            self._redraw()
        else:  # the screen made as readline believes it is: right while the cursor is at the end of the line
            sys.stdout.write(prompt + self._rl.get_line_buffer())
            sys.stdout.flush()
            self._rl.redisplay()

    def _idle(self) -> int:
        try:
            if not in_foreground(sys.stdin):
                self._back_in_front()
            self._on_idle()
        except Exception:  # a C callback must not raise: ctypes would print it over the prompt
            log.debug("console news not shown", exc_info=True)
        return 0

    def _back_in_front(self) -> None:
        """Sent to the background while reading: wait (readline reads on when this returns) until the node is in
        front again, then set readline's terminal settings again (the shell has set its own meanwhile) and draw
        the prompt and the line typed so far."""
        wait_for_foreground(sys.stdin)
        if self._reprep is not None and self._redraw is not None:
            deprep, prep = self._reprep
            deprep()  # the settings the prompt found, which readline keeps: readline's own from them again
            prep(1)
            self._redraw()
            self._fflush(None)

    def _complete(self, text: str, state: int) -> str | None:
        if state == 0:
            rl = self._rl
            self._matches = completions(rl.get_line_buffer(), rl.get_begidx(), rl.get_endidx(), list_dir,
                                        self._values)
        return self._matches[state] if state < len(self._matches) else None

    # --- any thread
    def release(self) -> None:
        """The node is stopping: give the terminal back as the prompt found it, if readline holds it now."""
        if self._reading and self._saved_tty is not None and in_foreground(sys.stdin):
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved_tty)
                # Python turns readline's bracketed paste off, but a user's inputrc may turn it on again (not on
                # a dumb terminal, which would show the sequence)
                if os.environ.get("TERM", "dumb") != "dumb":
                    sys.stdout.write(BRACKETED_PASTE_OFF)
                    sys.stdout.flush()

    def close(self) -> None:
        """No more news from the hook: readline may call it after this object is gone, at exit."""
        if self._hook_slot.value == ctypes.cast(self._hook, ctypes.c_void_p).value:
            self._hook_slot.value = None


_Call = Callable[[], object]


def _c_functions(readline: ModuleType) -> tuple[_Call | None, _Call | None, Callable[[object], object],
                                                 tuple[_Call, Callable[[int], object]] | None]:
    """readline's ``rl_clear_visible_line`` (GNU readline 7.0 and later) and ``rl_forced_update_display``, which
    the module does not offer (None where the library has not got them: libedit), C's ``fflush``, and readline's
    ``rl_deprep_terminal`` and ``rl_prep_terminal`` (None without them): for the input hook, where readline's own
    thread calls them, between two keystrokes."""
    fflush = ctypes.PyDLL(None).fflush
    fflush.argtypes = [ctypes.c_void_p]
    found: list[Any] = []
    for name in ("rl_clear_visible_line", "rl_forced_update_display", "rl_deprep_terminal", "rl_prep_terminal"):
        func = None
        if getattr(readline, "__file__", None):  # the library is reached through the module that links it
            with contextlib.suppress(OSError, AttributeError):
                func = getattr(ctypes.PyDLL(readline.__file__), name)
        found.append(func)
    if found[3] is not None:
        found[3].argtypes = [ctypes.c_int]
    reprep = (found[2], found[3]) if found[2] is not None and found[3] is not None else None
    return found[0], found[1], fflush, reprep
