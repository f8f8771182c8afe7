"""A secondary relays writes to the primary: the primary's rate limits charge the real user (writes) and the real
client address (logins), never the relaying tracker, whose one address every relayed request shares. Real tracker
processes on loopback; clients speak from 127.0.0.2 and 127.0.0.3."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.tracker.cluster import Cluster
from tracker_server.write_rate import WritePolicy

POLICY = WritePolicy()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(tmp_path, 2) as c:
        yield c


def call(port: int, method: str, path: str, body: dict[str, Any], source: str = "127.0.0.2",
         token: str | None = None) -> tuple[int, dict[str, Any]]:
    """One request, retried with its op_id as a client does while it is answered 503: with a 1 s tracker timeout
    a loaded machine can make the secondary lose sight of the primary for a moment (an election, "retry")."""
    payload = json.dumps({**body, "op_id": uuid.uuid4().hex})
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    deadline = time.monotonic() + 30
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20, source_address=(source, 0))
        try:
            conn.request(method, "/api/v1" + path, payload, headers)
            resp = conn.getresponse()
            status, answer = resp.status, json.loads(resp.read() or b"{}")
        finally:
            conn.close()
        if status != 503 or time.monotonic() > deadline:
            return status, answer
        time.sleep(0.2)


def login(port: int, user: str, source: str = "127.0.0.2") -> tuple[int, dict[str, Any]]:
    return call(port, "POST", "/sessions", {"user_id": user, "password": "pw", "peer_addr": f"{source}:7000"},
                source)


@pytest.mark.integration
def test_relayed_writes_and_logins_are_charged_to_the_user_and_the_client_not_the_secondary(
        cluster: Cluster) -> None:
    primary = cluster.wait_primary()
    via = cluster.ports[(2 if primary == 1 else 1) - 1]
    deadline = time.monotonic() + 30
    while call(via, "POST", "/users", {"user_id": "owner", "password": "pw"})[0] != 201:
        assert time.monotonic() < deadline
        time.sleep(0.1)  # the secondary has not heard of the primary yet
    users = [f"u{i}" for i in range(1, 7)]  # more successful logins in all than one address may make
    for name in ("mallory", "carol", *users):
        assert call(via, "POST", "/users", {"user_id": name, "password": "pw"}, source="127.0.0.9")[0] == 201
    tokens = {name: login(via, name, source)[1]["session"]
              for name, source in (("owner", "127.0.0.4"), ("mallory", "127.0.0.5"), ("carol", "127.0.0.6"))}
    assert call(via, "POST", "/groups", {"group_id": "g1"}, token=tokens["owner"])[0] == 201

    # Real time here: the buckets refill (2 a second) while the loop runs, so it runs until refused.
    accepted = until_refused(lambda i: call(via, "POST", f"/groups/g1/{'join' if i % 2 == 0 else 'leave'}", {},
                                            token=tokens["mallory"])[0])
    assert accepted >= POLICY.user_burst  # mallory's own bucket, kept on the primary
    assert call(via, "POST", "/groups/g1/join", {}, token=tokens["carol"])[0] == 202  # not the secondary's

    assert until_refused(lambda i: login(via, users[i % len(users)])[0]) >= POLICY.address_burst  # 127.0.0.2's
    assert login(via, "u1", source="127.0.0.3")[0] in (200, 409)  # another client of the same secondary is not


def until_refused(attempt: Callable[[int], int]) -> int:
    """Run ``attempt(i)`` until it answers 429; how many succeeded before."""
    for i in range(1000):
        status = attempt(i)
        if status == 429:
            return i
        assert status in (200, 201, 202), status
    raise AssertionError("never refused")
