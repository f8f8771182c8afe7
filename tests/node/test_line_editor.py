"""When the prompt edits lines: only on a terminal both ways, and a Python without readline still has a prompt."""

from __future__ import annotations

import io
import sys

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
