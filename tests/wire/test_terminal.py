"""The signals that stop a program cleanly: SIGHUP among them, unless the program was started to ignore it."""

from __future__ import annotations

import signal

import pytest

from wire.terminal import stop_signals


def test_a_closed_terminal_stops_cleanly_unless_hangups_were_to_be_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signal, "getsignal", lambda sig: signal.SIG_DFL)
    assert stop_signals() == [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    monkeypatch.setattr(signal, "getsignal", lambda sig: signal.SIG_IGN)  # started with nohup
    assert stop_signals() == [signal.SIGINT, signal.SIGTERM]
