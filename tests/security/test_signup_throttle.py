"""Attack: account-creation floods. Sign-ups are throttled per client address by a token bucket (429 with
Retry-After before any hashing), a class behind one NAT address still fits in the burst, other addresses are
unaffected, and a sign-up relayed by a secondary is charged to the client's address, not the secondary's."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.tracker_app import Tracker
from tests.tracker.cluster import TRACKER_TIMEOUT, Cluster
from tests.tracker.procs import TrackerProc
from tracker_server.__main__ import _parse, build_config
from tracker_server.signups import PRUNE_SCAN, SignupPolicy, SignupThrottle
from wire.errors import TooManyRequests
from wire.login_throttle import address_key

# ---------------------------------------------------------------------------------------------- the bucket


def test_a_burst_then_one_per_interval_then_full_again() -> None:
    throttle, now = SignupThrottle(SignupPolicy(burst=3, interval=10.0)), 1000.0
    for _ in range(3):
        throttle.charge("198.51.100.1", now)
    with pytest.raises(TooManyRequests) as refused:
        throttle.charge("198.51.100.1", now)
    assert refused.value.retry_after == 10 and "sign-ups" in refused.value.message
    with pytest.raises(TooManyRequests) as refused:
        throttle.charge("198.51.100.1", now + 7.5)
    assert refused.value.retry_after == 3  # 2.5 s left, rounded up
    throttle.charge("198.51.100.1", now + 10)  # one token back
    with pytest.raises(TooManyRequests):
        throttle.charge("198.51.100.1", now + 10)
    throttle.charge("198.51.100.2", now)  # another address has its own bucket
    assert throttle.tokens(address_key("198.51.100.1"), now + 10 + 30) == 3  # refills to the burst, no further


def test_an_ipv6_host_counts_by_its_64() -> None:
    throttle = SignupThrottle(SignupPolicy(burst=1, interval=10.0))
    throttle.charge("2001:db8:1:2::1", 0.0)
    with pytest.raises(TooManyRequests):
        throttle.charge("2001:db8:1:2::ffff", 0.0)
    throttle.charge("2001:db8:1:3::1", 0.0)


def test_full_buckets_are_forgotten_and_the_table_is_capped() -> None:
    throttle = SignupThrottle(SignupPolicy(burst=2, interval=10.0, max_tracked=100))
    for i in range(PRUNE_SCAN):
        throttle.charge(f"10.0.0.{i}", 0.0)
    throttle.charge("10.0.1.1", 20.0)  # the others are full again by now: dropped as they are looked at
    assert list(throttle.buckets) == [address_key("10.0.1.1")]
    for i in range(500):  # all charged at once: none full, so only the cap bounds them
        throttle.charge(f"10.1.{i // 256}.{i % 256}", 100.0)
    assert len(throttle.buckets) == 100
    assert address_key("10.1.1.243") in throttle.buckets  # the newest are kept, the oldest forgotten


# ---------------------------------------------------------------------------------------------- the app


async def test_a_class_behind_one_address_signs_up_and_the_next_sign_up_waits(tracker: Tracker) -> None:
    burst = SignupPolicy().burst
    for i in range(int(burst)):
        assert (await tracker.post("/users", {"user_id": f"student{i}", "password": "pw"}))[0] == 201
    # A taken id costs no hash, so no token: the answer stays "taken", not "too many".
    assert (await tracker.post("/users", {"user_id": "student0", "password": "pw"}))[0] == 409
    status, body, retry = await tracker.post("/users", {"user_id": "one-too-many", "password": "pw"})
    assert status == 429 and body["error"]["code"] == "too_many_requests"
    assert "sign-ups" in body["error"]["message"] and "\n" not in body["error"]["message"]
    assert retry == str(int(SignupPolicy().interval))
    assert (await tracker.post("/users", {"user_id": "elsewhere", "password": "pw"}, source="127.0.0.2"))[0] == 201
    tracker.clock.advance(SignupPolicy().interval)
    assert (await tracker.post("/users", {"user_id": "one-too-many", "password": "pw"}))[0] == 201


# ---------------------------------------------------------------------------------------------- relayed


class SmallBurstCluster(Cluster):
    def start(self, no: int) -> None:
        self.procs[no] = TrackerProc(self.list_file, no, self.tmp / f"data{no}", "--tracker-timeout",
                                     TRACKER_TIMEOUT, "--signup-burst", "2")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with SmallBurstCluster(tmp_path, 2) as c:
        yield c


def sign_up(port: int, name: str, source: str) -> int:
    """POST /users from ``source`` (urllib cannot bind a source address: http.client can)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        body = json.dumps({"user_id": name, "password": "pw", "op_id": uuid.uuid4().hex})
        conn.request("POST", "/api/v1/users", body, {"Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.integration
def test_a_sign_up_relayed_by_a_secondary_is_charged_to_the_client(cluster: Cluster) -> None:
    primary = cluster.wait_primary()
    secondary = 2 if primary == 1 else 1
    via, direct = cluster.ports[secondary - 1], cluster.ports[primary - 1]
    deadline = time.monotonic() + 30
    while (first := sign_up(via, "relayed0", "127.0.0.2")) == 503 and time.monotonic() < deadline:
        time.sleep(0.1)  # the secondary has not heard of the primary yet
    assert first == 201
    assert sign_up(via, "relayed1", "127.0.0.2") == 201
    assert sign_up(via, "relayed2", "127.0.0.2") == 429  # the client's bucket, through the secondary
    assert sign_up(direct, "relayed2", "127.0.0.2") == 429  # the same bucket on the primary
    assert sign_up(via, "other0", "127.0.0.3") == 201  # not the secondary's own (shared) address




# ---------------------------------------------------------------------------------------------- options


def test_the_signup_options_reach_the_config_and_nonsense_is_refused(tmp_path: Path) -> None:
    list_file = tmp_path / "t.txt"
    list_file.write_text("127.0.0.1:7001\n", encoding="utf-8")
    base = [str(list_file), "1", "--data-dir", str(tmp_path / "d")]
    config = build_config(_parse([*base, "--signup-burst", "80", "--signup-interval", "4.5"]))
    assert (config.signup_burst, config.signup_interval) == (80, 4.5)
    assert (build_config(_parse(base)).signup_burst, build_config(_parse(base)).signup_interval) == (50, 10.0)
    for bad in (["--signup-burst", "0"], ["--signup-interval", "0"], ["--signup-interval", "-1"]):
        with pytest.raises(ValueError, match="signup"):
            build_config(_parse([*base, *bad]))
