"""Fair password hashing (tracker_server/hash_gate.py): one hash queued or running per client address (a second one
from there is 429 at once), a bounded queue in all (503 with Retry-After at once), sign-ups and logins alike.
The hashes are a fake that waits for the test's word, so "in flight" is a fact, not a timing."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from peer_node.tracker_client import TrackerClient
from tests.security.tracker_app import Tracker, running_tracker
from tests.swarm.helpers import poll_until
from tracker_server.hash_gate import HashersBusy, HashGate
from tracker_server.keys import SERVICE
from tracker_server.passwords import PasswordHasher
from wire.errors import TooManyRequests
from wire.login_throttle import address_key
from wire.tracker_list import TrackerAddress


class HeldHashes:
    """Fake hash functions that block (in the hasher's thread) until ``release``; ``started`` counts entries."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def _wait(self) -> None:
        self.started.release()
        assert self.release.wait(timeout=30), "the test never released the hash"

    def hash(self, password: str, log2_n: int) -> str:
        self._wait()
        return f"fake${password}"

    def verify(self, password: str, stored: str) -> bool:
        self._wait()
        return stored == f"fake${password}"

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.acquire, True, 30)


@pytest.fixture
async def tracker(tmp_path: Path) -> AsyncIterator[Tracker]:
    async with running_tracker(tmp_path) as t:
        yield t


@pytest.fixture
def held(tracker: Tracker) -> Iterator[HeldHashes]:
    fake = HeldHashes()
    assert tracker.server is not None
    svc = tracker.server.app[SERVICE]
    svc.hasher = PasswordHasher(gate=HashGate(per_address=1, total=2), hash_fn=fake.hash, verify_fn=fake.verify)
    svc.state.users.update({"alice": "fake$pw-alice", "bob": "fake$pw-bob", "carol": "fake$pw-carol"})
    yield fake
    fake.release.set()  # never leave a thread blocked behind a failed test


# ---------------------------------------------------------------------------------------------- the gate alone


def test_one_place_per_address_and_per_ipv6_64_and_a_bounded_total() -> None:
    gate = HashGate(per_address=1, total=2)
    with gate.admit("192.0.2.1"):
        with pytest.raises(TooManyRequests) as again, gate.admit("192.0.2.1"):
            pass
        assert not isinstance(again.value, HashersBusy) and again.value.status == 429
        with gate.admit("2001:db8::1"), pytest.raises(TooManyRequests), gate.admit("2001:db8::2"):
            pass  # one /64, one place
        with gate.admit("192.0.2.2"), pytest.raises(HashersBusy) as busy, gate.admit("192.0.2.3"):
            pass
        assert busy.value.status == 503 and busy.value.code == "unavailable" and busy.value.retry_after >= 1
    with gate.admit("192.0.2.1"):  # released: the place is free again
        assert gate.in_flight == 1
    assert gate.in_flight == 0 and not gate.by_address


def test_an_in_process_caller_without_an_address_is_bounded_by_the_total_only() -> None:
    gate = HashGate(per_address=1, total=2)
    with gate.admit(""), gate.admit(""), pytest.raises(HashersBusy), gate.admit(""):
        pass


# ---------------------------------------------------------------------------------------------- the tracker


async def test_a_second_login_from_a_hashing_address_is_refused_at_once(tracker: Tracker, held: HeldHashes) -> None:
    first = asyncio.create_task(tracker.login("alice", "pw-alice"))
    await held.wait_started()  # alice's hash is running (and stays so until released)
    status, body, retry = await tracker.login("bob", "pw-bob")  # same address: not queued behind it
    assert status == 429 and body["error"]["code"] == "too_many_requests" and retry == "1"
    assert "from your address" in body["error"]["message"]
    status, body, _ = await tracker.post("/users", {"user_id": "newcomer", "password": "pw"})
    assert status == 429 and "from your address" in body["error"]["message"]  # sign-ups share the hasher and rule
    assert tracker.server is not None
    signups = tracker.server.app[SERVICE].signups
    assert signups.tokens(address_key("127.0.0.1"), tracker.clock()) == signups.policy.burst  # and it cost none
    other = asyncio.create_task(tracker.login("bob", "pw-bob", source="127.0.0.2"))
    await held.wait_started()  # another address is admitted at once
    assert not first.done()
    held.release.set()
    assert (await first)[0] == 200 and (await other)[0] == 200


async def test_past_the_total_queue_a_login_gets_503_with_retry_after(tracker: Tracker, held: HeldHashes) -> None:
    running = [asyncio.create_task(tracker.login(user, f"pw-{user}", source=source))
               for user, source in (("alice", "127.0.0.1"), ("bob", "127.0.0.2"))]
    await held.wait_started()
    await held.wait_started()
    status, body, retry = await tracker.login("carol", "pw-carol", source="127.0.0.3")
    assert status == 503 and body["error"]["code"] == "unavailable" and retry is not None and int(retry) >= 1
    held.release.set()
    assert [(await task)[0] for task in running] == [200, 200]
    assert (await tracker.login("carol", "pw-carol", source="127.0.0.3"))[0] == 200  # room again


async def test_a_nodes_login_waits_out_another_hash_from_its_address_and_gets_in(
        tracker: Tracker, held: HeldHashes, caplog: pytest.LogCaptureFixture) -> None:
    """The 429 for "one hash per address at a time" is the node's to wait out (``peer_node/tracker_patience.py``):
    two people behind one address pressing "log in" together both get in, rather than one told to try again."""
    assert tracker.server is not None
    first = asyncio.create_task(tracker.login("alice", "pw-alice"))
    await held.wait_started()  # alice's hash holds the address's one place
    client = TrackerClient([TrackerAddress("127.0.0.1", tracker.server.port or 0, 1)], timeout_s=5)
    try:
        with caplog.at_level(logging.DEBUG, logger="peer_node.tracker_client"):
            login = asyncio.create_task(client.write("POST", "/sessions", {
                "user_id": "bob", "password": "pw-bob", "peer_addr": "127.0.0.1:7001"}, auth=False))
            await asyncio.wait_for(poll_until(lambda: login.done() or any(
                "from your address is being checked" in r.getMessage() for r in caplog.records)), 30)  # refused
            held.release.set()
            answer = await asyncio.wait_for(login, 30)
    finally:
        await client.close()
    assert answer["user_id"] == "bob" and answer["session"]
    assert (await first)[0] == 200
