"""The signals that stop a program cleanly (SIGHUP among them, unless the program was started to ignore it), and
console input that cannot be read."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from wire.terminal import read_line, stop_signals


def test_a_closed_terminal_stops_cleanly_unless_hangups_were_to_be_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signal, "getsignal", lambda sig: signal.SIG_DFL)
    assert stop_signals() == [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    monkeypatch.setattr(signal, "getsignal", lambda sig: signal.SIG_IGN)  # started with nohup
    assert stop_signals() == [signal.SIGINT, signal.SIGTERM]


def test_input_that_cannot_be_read_is_the_end_of_input(tmp_path: Path) -> None:
    with open(tmp_path / "out.txt", "w", encoding="utf-8") as write_only:  # what nohup leaves as stdin
        assert read_line(write_only) == ""
