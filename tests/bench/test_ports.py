"""The port picker keeps out of the kernel's ephemeral range, so an outgoing connection cannot take a port
between the pick and the child process binding it (a CI run failed that way: "address already in use")."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import pytest

from bench import ports
from bench.ports import free_port, pick_range, worker_share


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


def test_each_test_worker_has_a_share_of_the_range_of_its_own() -> None:
    """``make test`` runs two pytest-xdist workers: a port one hands out, the other never does."""
    assert worker_share((10_000, 32_767), "gw0", "2") == (10_000, 21_383)
    assert worker_share((10_000, 32_767), "gw1", "2") == (21_384, 32_767)
    assert worker_share((10_000, 32_767), "gw2", "3")[1] <= 32_767
    for worker, count in [(None, None), ("gw0", None), ("gw2", "2"), ("main", "2"), ("gw0", "0")]:
        assert worker_share((10_000, 32_767), worker, count) == (10_000, 32_767)  # not a worker of xdist's


def test_a_test_worker_picks_its_ports_in_its_share(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "range").write_text("32768\t60999\n")
    monkeypatch.setattr(ports, "_RANGE_FILE", tmp_path / "range")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    picked_in: list[tuple[int, int]] = []
    pick = random.randint

    def randint(low: int, high: int) -> int:
        picked_in.append((low, high))
        return pick(low, high)

    monkeypatch.setattr("bench.ports.random.randint", randint)
    port = free_port()
    assert picked_in and set(picked_in) == {(21_384, 32_767)}
    assert 21_384 <= port <= 32_767
