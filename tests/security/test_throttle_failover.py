"""Failed-login counts survive a failover: two real tracker processes, the primary is killed after an account has
been guessed at, and the new primary goes on counting from where the old one stopped."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.tracker.cluster import Cluster
from tests.tracker.procs import http
from wire.login_throttle import ThrottlePolicy

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster(tmp_path, 2) as c:
        yield c


def login(port: int, password: str) -> tuple[int, Any]:
    return http(port, "POST", "/api/v1/sessions", {"user_id": "alice", "password": password,
                                                   "peer_addr": "127.0.0.1:7000", "op_id": uuid.uuid4().hex})


def test_a_new_primary_keeps_counting_failed_logins(cluster: Cluster) -> None:
    first = cluster.wait_primary()
    port = cluster.ports[first - 1]
    assert http(port, "POST", "/api/v1/users", {"user_id": "alice", "password": "right",
                                                "op_id": uuid.uuid4().hex})[0] == 201
    free = ThrottlePolicy().free_per_account
    assert [login(port, f"guess{i}")[0] for i in range(free)] == [401] * free
    assert login(port, "right")[0] == 429
    cluster.wait_converged([1, 2])
    cluster.procs[first].signal(signal.SIGKILL)
    second = cluster.wait_primary(among=[no for no in (1, 2) if no != first])
    port = cluster.ports[second - 1]
    deadline = time.monotonic() + 30
    while (answer := login(port, "guess-again"))[0] in (429, 503) and time.monotonic() < deadline:
        time.sleep(0.2)  # the old lock runs out (and the new primary settles in)
    assert answer[0] == 401  # one more failure, the (free + 1)th: on a tracker that forgot, it would be the 1st
    status, body = login(port, "right")
    assert status == 429 and body["error"]["code"] == "login_locked"
