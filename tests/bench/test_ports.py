"""The port picker keeps out of the kernel's ephemeral range, so an outgoing connection cannot take a port
between the pick and the child process binding it (a CI run failed that way: "address already in use")."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bench.ports import free_port, pick_range


def test_the_range_ends_just_below_the_ephemeral_ports() -> None:
    assert pick_range("32768\t60999\n") == (10_000, 32767)
    assert pick_range("20000 60999") == (10_000, 19999)


@pytest.mark.parametrize("text", [None, "", "garbage", "x y"])
def test_an_unreadable_range_assumes_linuxs_default(text: str | None) -> None:
    assert pick_range(text) == (10_000, 32767)


def test_too_few_ports_below_the_ephemeral_range_means_no_range() -> None:
    assert pick_range("11000 60999") is None


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    bounds = pick_range(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text())
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    if bounds is not None:
        assert all(bounds[0] <= p <= bounds[1] for p in ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports[0]))


def test_a_port_something_listens_on_is_never_picked(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen()
        taken = listener.getsockname()[1]
        picks = iter([taken, taken, taken + 1 if taken < 32767 else taken - 1])
        monkeypatch.setattr("bench.ports.random.randint", lambda low, high: next(picks))
        monkeypatch.setattr("bench.ports._handed_out", set())
        assert free_port() != taken
