"""Failover with real tracker processes: kill -9 of the primary under load, rejoin of a restarted primary with 3
trackers, a paused (SIGSTOP) primary that must acknowledge nothing after it wakes, and a write relayed to a primary
that freezes, which the next primary answers."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.cluster import wait_until

from .cluster import Client, Cluster
from .procs import TrackerProc, http, wait_healthy, write_tracker_list

pytestmark = pytest.mark.integration
CLIENTS = 20


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[Cluster] = []

    def make(size: int) -> Cluster:
        cluster = Cluster(tmp_path, size)
        made.append(cluster)
        cluster.start_all()
        return cluster

    yield make
    for cluster in made:
        cluster.stop_all()


async def _worker(c: Client, i: int, rng: random.Random, stop_at: float, killed_at: list[float]) -> None:
    """Writes until ``stop_at`` and, past it, until this client has succeeded once after the kill (the one
    bound is the 60 s deadline: how fast clients recover is measured by the bench, not asserted here)."""
    deadline = time.monotonic() + 60
    await c.call("POST", "/api/v1/users", {"user_id": f"u{i}", "password": "pw"}, deadline=deadline)
    _, answer = await c.call("POST", "/api/v1/sessions", {"user_id": f"u{i}", "password": "pw",
                                                          "peer_addr": f"127.0.0.1:{20000 + i}"}, deadline=deadline)
    c.token = answer["session"]
    await c.call("POST", "/api/v1/groups", {"group_id": f"g{i}"}, deadline=deadline)
    k = 0

    def recovered() -> bool:
        return bool(killed_at) and any(t > killed_at[0] for t in c.successes)

    while (time.monotonic() < stop_at or not recovered()) and time.monotonic() < deadline:
        r = rng.random()
        if r < 0.3:
            await c.call("POST", f"/api/v1/groups/g{rng.randrange(CLIENTS)}/join", {}, deadline=deadline)
        elif r < 0.6:
            _, answer = await c.call("GET", f"/api/v1/groups/g{i}/requests", deadline=deadline)
            for uid in answer.get("requests", []):
                await c.call("POST", f"/api/v1/groups/g{i}/requests/{uid}/accept", {}, deadline=deadline)
        else:
            body = {"file_name": f"f{k}", "size": 10, "piece_size": 16384, "sha256": f"{i:032x}{k:032x}",
                    "piece_hashes": [f"{i:032x}{k:032x}"]}
            await c.call("POST", f"/api/v1/groups/g{i}/files", body, deadline=deadline)
        k += 1


def _acked(clients: list[Client], kind: str) -> list[tuple[str, Any]]:
    return [(path, answer) for c in clients for path, answer in c.acked.values() if path.endswith(kind)]


async def _check_state(clients: list[Client], op_ids: list[str]) -> None:
    """Every acknowledged write is there, once: the log holds each op_id and the state matches the acks."""
    assert len(op_ids) == len(set(op_ids))
    missing = [op for c in clients for op in c.acked if op not in set(op_ids)]
    assert not missing, f"{len(missing)} acknowledged writes lost"
    deadline = time.monotonic() + 30
    for i, c in enumerate(clients):
        await c.call("POST", "/api/v1/heartbeat", {}, deadline=deadline)
        _, info = await c.call("GET", f"/api/v1/groups/g{i}", deadline=deadline)
        accepted = {path.split("/")[-2] for path, _ in c.acked.values() if path.endswith("/accept")}
        assert {m["user_id"] for m in info["members"]} == {f"u{i}"} | accepted
        _, files = await c.call("GET", f"/api/v1/groups/g{i}/files", deadline=deadline)
        shared = {a["file_name"] for path, a in c.acked.values() if path == f"/api/v1/groups/g{i}/files"}
        # The client's empty heartbeat says it serves none of them now: listed as offline, but listed.
        assert {f["file_name"] for f in files["files"] + files["offline"]} == shared


async def _run_with_kill(cluster: Cluster, seed: int, *, restart: bool) -> tuple[list[Client], int, float]:
    rng = random.Random(seed)
    old = await asyncio.to_thread(cluster.wait_primary)
    urls = [f"http://127.0.0.1:{p}" for p in cluster.ports]
    async with aiohttp.ClientSession() as session:
        clients = [Client(urls, session) for _ in range(CLIENTS)]
        kill_after = rng.uniform(0.5, 2.0)
        start = time.monotonic()
        stop_at = start + kill_after + 3.0
        kill_time: list[float] = []
        workers = [asyncio.create_task(_worker(c, i, random.Random(seed * 100 + i), stop_at, kill_time))
                   for i, c in enumerate(clients)]
        await asyncio.sleep(kill_after)
        killed_at = time.monotonic()
        kill_time.append(killed_at)
        cluster.procs[old].signal(signal.SIGKILL)
        if restart:
            await asyncio.sleep(1.5)
            cluster.procs[old].stop()
            await asyncio.to_thread(cluster.start, old)
        await asyncio.gather(*workers)
        stuck = [i for i, c in enumerate(clients) if not any(t > killed_at for t in c.successes)]
        assert not stuck, f"clients {stuck} never succeeded again after the primary was killed"
        recovery = max(min(t for t in c.successes if t > killed_at) - killed_at for c in clients)
        survivors = [no for no in cluster.procs if no != old or restart]
        new = await asyncio.to_thread(cluster.wait_primary, survivors)
        digest = await asyncio.to_thread(cluster.digest, new)
        await _check_state(clients, digest["op_ids"])
    return clients, old, recovery


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_two_trackers_lose_no_acknowledged_write_when_the_primary_is_killed(cluster_factory: Any,
                                                                                 seed: int) -> None:
    cluster = cluster_factory(2)
    clients, _, recovery = await _run_with_kill(cluster, seed, restart=False)
    assert sum(len(c.acked) for c in clients) > 3 * CLIENTS
    print(f"seed {seed}: {sum(len(c.acked) for c in clients)} acked writes, recovery {recovery:.2f} s")


async def test_three_trackers_rejoin_after_the_primary_is_killed_and_restarted(cluster_factory: Any) -> None:
    cluster = cluster_factory(3)
    _, old, recovery = await _run_with_kill(cluster, 7, restart=True)
    await asyncio.to_thread(cluster.wait_converged, [1, 2, 3])
    health = await asyncio.to_thread(cluster.health, old)
    assert health is not None and health["role"] == "secondary"  # roles do not flap back
    print(f"recovery {recovery:.2f} s")


async def test_a_paused_primary_acknowledges_nothing_after_waking_and_steps_down(cluster_factory: Any) -> None:
    cluster = cluster_factory(2)
    old = await asyncio.to_thread(cluster.wait_primary)
    other = 3 - old
    old_url = f"http://127.0.0.1:{cluster.ports[old - 1]}"
    async with aiohttp.ClientSession() as session:
        direct = Client([old_url], session)  # talks only to the old primary: no failover for it
        await direct.call("POST", "/api/v1/users", {"user_id": "early", "password": "pw"},
                          deadline=time.monotonic() + 20)
        cluster.procs[old].signal(signal.SIGSTOP)
        # writes that reach the paused primary wait in its socket until it wakes
        stuck = [asyncio.create_task(direct.call("POST", "/api/v1/users", {"user_id": f"stuck{i}", "password": "p"},
                                                 deadline=time.monotonic() + 30)) for i in range(5)]
        new = await asyncio.to_thread(cluster.wait_primary, [other])
        assert new == other
        fresh = Client([f"http://127.0.0.1:{cluster.ports[other - 1]}"], session)
        await fresh.call("POST", "/api/v1/users", {"user_id": "after", "password": "pw"},
                         deadline=time.monotonic() + 20)
        cluster.procs[old].signal(signal.SIGCONT)
        answers = await asyncio.gather(*stuck, return_exceptions=True)
        print("stuck writes answered:", [a[0] if isinstance(a, tuple) else repr(a) for a in answers])
        digest = await asyncio.to_thread(cluster.wait_converged, [1, 2])
        for op_id in direct.acked:  # whatever the old primary acknowledged is on the new primary
            assert op_id in digest["op_ids"]
        assert all(isinstance(a, (tuple, TimeoutError)) for a in answers)
    health = await asyncio.to_thread(cluster.health, old)
    assert health is not None and health["role"] == "secondary"
    assert health["epoch"] == (await asyncio.to_thread(cluster.health, other) or {})["epoch"]


@pytest.mark.parametrize("size", [2, 3])
async def test_a_write_relayed_to_a_primary_that_freezes_is_answered_by_the_next_primary(cluster_factory: Any,
                                                                                          size: int) -> None:
    """One request, no retry by the client: the secondary gives its relay up once it no longer hears the frozen
    primary (not after the relay's own 15 s, then a 503), waits for the election, and the winner (the secondary
    itself or the other one; of two trackers, the survivor) takes the write."""
    cluster = cluster_factory(size)
    old = await asyncio.to_thread(cluster.wait_primary)
    others = [no for no in range(1, size + 1) if no != old]
    cluster.procs[old].signal(signal.SIGSTOP)
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{cluster.ports[others[0] - 1]}/api/v1/users"
            async with session.post(url, json={"user_id": "during", "password": "pw", "op_id": "op-during"},
                                    timeout=aiohttp.ClientTimeout(total=60)) as resp:
                assert (resp.status, await resp.json()) == (201, {"user_id": "during"})
        assert await asyncio.to_thread(cluster.wait_primary, others) in others
        assert "op-during" in (await asyncio.to_thread(cluster.wait_converged, others))["op_ids"]
    finally:
        cluster.procs[old].signal(signal.SIGCONT)


async def test_a_tracker_started_late_with_an_empty_data_dir_catches_up(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 3)
    try:
        cluster.start(1)
        cluster.start(2)
        await asyncio.to_thread(cluster.wait_primary, [1, 2])
        urls = [f"http://127.0.0.1:{p}" for p in cluster.ports[:2]]
        async with aiohttp.ClientSession() as session:
            c = Client(urls, session)
            deadline = time.monotonic() + 30
            for i in range(30):  # a majority (2 of 3) is up: writes go through
                await c.call("POST", "/api/v1/users", {"user_id": f"early{i}", "password": "pw"}, deadline=deadline)
        cluster.start(3)
        assert "(data in" in cluster.procs[3].banner and "empty: the state will be copied" in cluster.procs[3].banner
        digest = await asyncio.to_thread(cluster.wait_converged, [1, 2, 3])
        assert all(op in digest["op_ids"] for op in c.acked)
        log = cluster.procs[3].log_path.read_text("utf-8", "replace")
        assert f"level with it at log index {digest['log_index']}" in log  # its operator sees the copy end
        health = await asyncio.to_thread(cluster.health, 3)
        assert health is not None and health["role"] == "secondary"
    finally:
        cluster.stop_all()


async def test_a_secondary_forwards_writes_and_heartbeats_and_answers_reads(cluster_factory: Any) -> None:
    cluster = cluster_factory(2)
    primary = await asyncio.to_thread(cluster.wait_primary)
    secondary = 3 - primary
    sec_url = f"http://127.0.0.1:{cluster.ports[secondary - 1]}"
    pri_url = f"http://127.0.0.1:{cluster.ports[primary - 1]}"
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        via_sec, via_pri = Client([sec_url], session), Client([pri_url], session)
        assert (await via_sec.call("POST", "/api/v1/users", {"user_id": "ann", "password": "pw"},
                                   deadline=deadline))[0] == 201
        _, login = await via_sec.call("POST", "/api/v1/sessions", {"user_id": "ann", "password": "pw",
                                                                  "peer_addr": "127.0.0.1:9"}, deadline=deadline)
        via_sec.token = via_pri.token = login["session"]
        assert (await via_sec.call("POST", "/api/v1/groups", {"group_id": "g"}, deadline=deadline))[0] == 201
        body = {"file_name": "a", "size": 10, "piece_size": 16384, "sha256": "a" * 64, "piece_hashes": ["a" * 64]}
        assert (await via_sec.call("POST", "/api/v1/groups/g/files", body, deadline=deadline))[0] == 201
        # the write was acknowledged only once the secondary had it: it reads it back from its own memory
        _, groups = await via_sec.call("GET", "/api/v1/groups", deadline=deadline)
        assert [g["group_id"] for g in groups["groups"]] == ["g"]
        holdings = [{"group_id": "g", "file_sha256": "a" * 64, "pieces": "all"}]
        await via_sec.call("POST", "/api/v1/heartbeat", {"holdings": holdings}, deadline=deadline)
        _, files = await via_pri.call("GET", "/api/v1/groups/g/files", deadline=deadline)
        assert [f["file_name"] for f in files["files"]] == ["a"]
        async with session.post(sec_url + "/internal/v1/status", json={}) as resp:
            assert resp.status == 403  # internal routes want the cluster's signature
    health = await asyncio.to_thread(cluster.health, secondary)
    assert health is not None and health["role"] == "secondary" and health["primary"] == primary
    assert health["log_index"] == (await asyncio.to_thread(cluster.health, primary) or {})["log_index"]


async def test_with_three_trackers_a_primary_cut_off_from_the_majority_acknowledges_nothing(
        cluster_factory: Any) -> None:
    cluster = cluster_factory(3)
    primary = await asyncio.to_thread(cluster.wait_primary)
    others = [no for no in (1, 2, 3) if no != primary]
    url = f"http://127.0.0.1:{cluster.ports[primary - 1]}"
    async with aiohttp.ClientSession() as session:
        c = Client([url], session)
        assert (await c.call("POST", "/api/v1/users", {"user_id": "before", "password": "pw"},
                             deadline=time.monotonic() + 20))[0] == 201
        for no in others:  # the primary is alone: as cut off as a partition can make it
            cluster.procs[no].signal(signal.SIGSTOP)
        try:
            async with session.post(url + "/api/v1/users", json={"user_id": "alone", "password": "pw",
                                                                 "op_id": "alone-1"}) as resp:
                assert resp.status == 503  # stored here only: not acknowledged
            health = await asyncio.to_thread(cluster.health, primary)
            end = time.monotonic() + 20
            while health is not None and health["role"] == "primary" and time.monotonic() < end:
                await asyncio.sleep(0.1)
                health = await asyncio.to_thread(cluster.health, primary)
            assert health is not None and health["role"] == "secondary"  # it stepped down
        finally:
            for no in others:
                cluster.procs[no].signal(signal.SIGCONT)
        await asyncio.to_thread(cluster.wait_primary)
        digest = await asyncio.to_thread(cluster.wait_converged, [1, 2, 3])
        assert all(op in digest["op_ids"] for op in c.acked)


async def test_a_tracker_left_without_a_majority_says_why_writes_are_refused(cluster_factory: Any) -> None:
    cluster = cluster_factory(3)
    primary = await asyncio.to_thread(cluster.wait_primary)
    survivor = next(no for no in (1, 2, 3) if no != primary)
    for no in (1, 2, 3):
        if no != survivor:
            cluster.procs[no].signal(signal.SIGKILL)
    log = cluster.procs[survivor].log_path

    def said() -> bool:
        return "only 1 of 3 trackers are reachable (a majority is 2)" in log.read_text("utf-8", "replace")

    await asyncio.to_thread(wait_until, said, 30, "the survivor to say why it cannot elect a primary")
    text = log.read_text("utf-8", "replace")
    assert text.count("no new primary can be elected") == 1  # once a minute, not once a tick
    health = await asyncio.to_thread(cluster.health, survivor)
    assert health is not None and health["role"] == "secondary" and health["primary"] is None  # not the dead one


async def test_two_trackers_given_different_secrets_never_both_take_writes(tmp_path: Path) -> None:
    """Each refuses the other's signature: a running tracker that refuses is a "no" to a candidate, not silence, so
    neither wins alone (two primaries would each take writes the other never sees, and one side's would be lost once
    the secrets agree), and no write is acknowledged meanwhile. Both say what is wrong."""
    list_file, ports = write_tracker_list(tmp_path, 2)
    other = tmp_path / "other.secret"
    other.write_text("another cluster's secret\n", encoding="utf-8")
    procs = [TrackerProc(list_file, 1, tmp_path / "data1", "--tracker-timeout", "1")]
    try:
        # Tracker 1 first, alone: it wins by silence, as a survivor does. Then tracker 2, with the other secret.
        await asyncio.to_thread(wait_until, lambda: (http(ports[0], "GET", "/healthz")[1] or {}).get("role")
                                == "primary", 20, "tracker 1 to win alone")
        procs.append(TrackerProc(list_file, 2, tmp_path / "data2", "--tracker-timeout", "1", "--secret-file",
                                 str(other)))
        await asyncio.to_thread(wait_healthy, ports[1])
        roles: list[tuple[str, str]] = []
        end = time.monotonic() + 6  # six tracker timeouts: time enough for tracker 2 to stand, and before, to win
        while time.monotonic() < end:
            answers = [await asyncio.to_thread(http, port, "GET", "/healthz") for port in ports]
            roles.append((answers[0][1]["role"], answers[1][1]["role"]))
            await asyncio.sleep(0.1)
        assert set(roles) == {("primary", "secondary")}
        for proc in procs:
            assert "refuses our signature" in proc.log_path.read_text("utf-8", "replace")
        # A write to the secondary is refused at once, not after waiting for an election that cannot end (the
        # node's hedging asks the other tracker meanwhile)...
        status, body = await asyncio.to_thread(http, ports[1], "POST", "/api/v1/users",
                                               {"user_id": "carol", "password": "carol-pw-8421", "op_id": "op-carol-1"})
        assert (status, body["error"]["code"]) == (503, "unavailable"), body
        # ...nor does the primary acknowledge one it alone holds: the other would win alone once it is gone (it
        # hears nothing then), and every such write would be lost.
        # Not even decided: nothing reaches its log, so nothing it never acknowledged is served (or lost) later.
        logged = (await asyncio.to_thread(http, ports[0], "GET", "/healthz"))[1]["log_index"]
        for _ in range(2):  # the write, and its client's retry
            status, body = await asyncio.to_thread(http, ports[0], "POST", "/api/v1/users",
                                                   {"user_id": "dave", "password": "dave-pw-8421",
                                                    "op_id": "op-dave-1"})
            assert status == 503 and "refuses this one's signature" in body["error"]["message"], body
        assert (await asyncio.to_thread(http, ports[0], "GET", "/healthz"))[1]["log_index"] == logged
    finally:
        for proc in procs:
            proc.stop()


async def test_two_trackers_that_each_served_alone_in_turn_end_with_one_history(tmp_path: Path) -> None:
    """The primary stops; the other serves alone and stops; the first comes back alone and serves; then both run.
    Writes made alone in turn cannot all survive (REPLICATION.md: two failures in sequence), but the two trackers
    must end with one history: each had led "the next epoch", so their logs matched in index and epoch while they
    held different entries, and they never converged."""
    cluster = Cluster(tmp_path, 2)
    cluster.start_all()
    try:
        first = await asyncio.to_thread(cluster.wait_primary)
        second = 3 - first

        def create(no: int, user: str) -> int:
            """As a client does: the same op_id again while the tracker says 503 (a new primary settling in)."""
            for _ in range(50):
                status = http(cluster.ports[no - 1], "POST", "/api/v1/users",
                              {"user_id": user, "password": f"{user}-pw-8421", "op_id": f"op-{user}"})[0]
                if status != 503:
                    return status
                time.sleep(0.2)
            return status

        assert await asyncio.to_thread(create, first, "both") == 201
        await asyncio.to_thread(cluster.wait_converged, [1, 2])
        cluster.procs[first].stop()
        await asyncio.to_thread(cluster.wait_primary, [second])
        assert await asyncio.to_thread(create, second, "only-second") == 201
        cluster.procs[second].stop()
        cluster.start(first)
        await asyncio.to_thread(wait_healthy, cluster.ports[first - 1])
        await asyncio.to_thread(cluster.wait_primary, [first])
        # What nothing here can tell, its operator is told: what the other may have served alone is at stake
        said = cluster.procs[first].log_path.read_text("utf-8", "replace")
        assert f"tracker {first} leads alone without having heard tracker {second} since it started" in said
        assert "leads alone" not in cluster.procs[second].log_path.read_text("utf-8", "replace")  # it had heard
        assert await asyncio.to_thread(create, first, "only-first") == 201
        cluster.start(second)
        await asyncio.to_thread(wait_healthy, cluster.ports[second - 1])
        await asyncio.to_thread(cluster.wait_converged, [1, 2])
        users = [await asyncio.to_thread(create, no, "after") for no in (1, 2)]  # one write, then its retry
        assert users[0] == 201 or users[1] == 201
        await asyncio.to_thread(cluster.wait_converged, [1, 2])
    finally:
        cluster.stop_all()
