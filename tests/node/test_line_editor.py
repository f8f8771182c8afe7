"""When the prompt edits lines: only on a terminal both ways, and a Python without readline still has a prompt."""

from __future__ import annotations

import io
import sys
import types

import pytest

from peer_node import line_editor
from peer_node.line_editor import can_edit, open_editor


def test_lines_are_edited_only_when_the_console_is_the_process_terminal_both_ways() -> None:
    assert not can_edit(io.StringIO(), io.StringIO())
    assert not can_edit(sys.stdin, io.StringIO())


def test_a_python_without_readline_gets_plain_lines_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line_editor, "can_edit", lambda inp, out: True)
    monkeypatch.setitem(sys.modules, "readline", None)  # import readline: ImportError, as when built without it
    assert open_editor(sys.stdin, sys.stdout, None, lambda: None) is None


def test_the_hook_of_a_node_sent_to_the_background_waits_for_the_front_then_sets_readline_up_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """In the background readline must not read the terminal (the read fails, ending its line, which puts its
    settings back over the shell's): the input hook, which runs before each read, waits for the foreground first.
    Back in front, readline's settings are set again and the line drawn again, then the news shown."""
    fake = types.ModuleType("readline")
    fake.__doc__ = "GNU readline"
    for name in ("parse_and_bind", "set_auto_history", "set_completer_delims", "set_completer", "add_history"):
        setattr(fake, name, lambda *args: None)
    monkeypatch.setitem(sys.modules, "readline", fake)
    calls: list[str] = []
    editor = line_editor.LineEditor(None, lambda: calls.append("news"))
    try:
        editor._reprep = (lambda: calls.append("deprep"), lambda meta: calls.append(f"prep {meta}"))
        editor._redraw = lambda: calls.append("redraw")
        monkeypatch.setattr(line_editor, "in_foreground", lambda stream: False, raising=False)
        monkeypatch.setattr(line_editor, "wait_for_foreground", lambda stream: calls.append("waited for the front"),
                            raising=False)
        assert editor._idle() == 0
    finally:
        editor.close()
    assert calls == ["waited for the front", "deprep", "prep 1", "redraw", "news"]
