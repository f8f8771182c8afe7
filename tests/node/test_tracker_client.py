"""The tracker client against small real HTTP servers: failover order, op_id reuse, errors, a redirect not followed,
and a silent (frozen) tracker that is not waited on alone."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any, Protocol, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench.ports import free_port
from peer_node.tracker_client import TrackerClient, UnansweredWrite, path_of
from tests.node.test_tracker_clock import date_header
from wire.errors import Conflict, LoginLocked, TooManyRequests, Unavailable
from wire.tracker_list import TrackerAddress


class Stub:
    """A tracker stand-in that records what it received and answers with a fixed status."""

    def __init__(self, status: int, answer: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.answer = answer
        self.headers = headers or {}
        self.seen: list[dict[str, Any]] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1", port=free_port())

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        self.seen.append({"path": request.path, "auth": request.headers.get("Authorization"), **body})
        return web.json_response(self.answer, status=self.status, headers=self.headers)

    def address(self, rank: int) -> TrackerAddress:
        return TrackerAddress("127.0.0.1", self.server.port or 0, rank)


class _HasServer(Protocol):
    server: TestServer


StubT = TypeVar("StubT", bound=_HasServer)


class _Started:
    """The stub servers a fixture started, closed at its end."""

    def __init__(self) -> None:
        self.made: list[_HasServer] = []

    async def add(self, stub: StubT) -> StubT:
        await stub.server.start_server()
        self.made.append(stub)
        return stub

    async def close(self) -> None:
        for stub in self.made:
            await stub.server.close()


@pytest.fixture
async def stubs() -> Any:
    started = _Started()

    async def make(status: int, answer: dict[str, Any], headers: dict[str, str] | None = None) -> Stub:
        return await started.add(Stub(status, answer, headers))

    yield make
    await started.close()


async def test_write_fails_over_in_rank_order_reusing_the_op_id(stubs: Any) -> None:
    broken = await stubs(500, {})
    good = await stubs(201, {"group_id": "g1"})
    down = TrackerAddress("127.0.0.1", free_port(), 1)
    client = TrackerClient([down, broken.address(2), good.address(3)], timeout_s=2)
    client.session_token = "sess"
    try:
        answer = await client.write("POST", "/groups", {"group_id": "g1"})
    finally:
        await client.close()
    assert answer == {"group_id": "g1"}
    assert broken.seen[0]["op_id"] == good.seen[0]["op_id"] and len(good.seen[0]["op_id"]) == 32
    assert good.seen[0]["auth"] == "Bearer sess"
    assert client.current.rank == 3 and client.failed_over


async def test_client_stays_with_the_tracker_that_answered(stubs: Any) -> None:
    first = await stubs(500, {})
    second = await stubs(200, {"groups": []})
    client = TrackerClient([first.address(1), second.address(2)], timeout_s=2, retry_s=0)
    try:
        await client.get("/groups")
        await client.get("/groups")
    finally:
        await client.close()
    assert len(first.seen) == 1 and len(second.seen) == 2


async def test_4xx_is_the_answer_not_a_reason_to_fail_over(stubs: Any) -> None:
    first = await stubs(409, {"error": {"code": "conflict", "message": "group g1 exists"}})
    second = await stubs(201, {})
    client = TrackerClient([first.address(1), second.address(2)], timeout_s=2)
    try:
        with pytest.raises(Conflict, match="group g1 exists"):
            await client.write("POST", "/groups", {"group_id": "g1"})
    finally:
        await client.close()
    assert second.seen == []


async def test_a_429_whose_wait_exceeds_the_patience_reaches_the_caller_at_once_with_its_wait(stubs: Any) -> None:
    stub = await stubs(429, {"error": {"code": "too_many_requests", "message": "slow down"}}, {"Retry-After": "600"})
    client = TrackerClient([stub.address(1)], timeout_s=2)
    try:
        with pytest.raises(TooManyRequests) as info:
            await asyncio.wait_for(client.write("POST", "/sessions", {}, auth=False), 30)
    finally:
        await client.close()
    assert info.value.retry_after == 600 and len(stub.seen) == 1


Answer = tuple[int, dict[str, Any], dict[str, str]]  # status, body, headers


class Scripted(Stub):
    """A tracker that gives the answers of ``script`` in turn, then the last one for ever."""

    def __init__(self, script: list[Answer]) -> None:
        super().__init__(*script[0])
        self.script = script

    async def handle(self, request: web.Request) -> web.Response:
        self.status, self.answer, self.headers = self.script[min(len(self.seen), len(self.script) - 1)]
        return await super().handle(request)


@pytest.fixture
async def scripted() -> Any:
    started = _Started()

    async def make(*script: Answer) -> Scripted:
        return await started.add(Scripted(list(script)))

    yield make
    await started.close()


SLOW_DOWN: Answer = (429, {"error": {"code": "too_many_requests", "message": "too many changes; try again in 1 s"}},
             {"Retry-After": "1"})
BUSY: Answer = (503, {"error": {"code": "unavailable", "message": "the tracker is busy checking passwords"}},
        {"Retry-After": "1"})
CREATED: Answer = (201, {"group_id": "g1"}, {})


async def test_a_short_429_is_waited_out_and_the_same_write_sent_again_with_its_op_id(scripted: Any) -> None:
    stub = await scripted(SLOW_DOWN, SLOW_DOWN, CREATED)
    client = TrackerClient([stub.address(1)], timeout_s=2)
    try:
        answer = await asyncio.wait_for(client.write("POST", "/groups", {"group_id": "g1"}), 30)
    finally:
        await client.close()
    assert answer == {"group_id": "g1"} and len(stub.seen) == 3
    assert len({seen["op_id"] for seen in stub.seen}) == 1  # one write, sent three times: applied once


async def test_429s_are_waited_out_only_within_the_calls_patience_then_the_last_one_reaches_the_caller(
        scripted: Any) -> None:
    stub = await scripted(SLOW_DOWN)
    client = TrackerClient([stub.address(1)], timeout_s=2, patience_s=2.5)
    try:
        with pytest.raises(TooManyRequests) as info:
            await asyncio.wait_for(client.write("POST", "/groups", {"group_id": "g1"}), 30)
    finally:
        await client.close()
    assert info.value.retry_after == 1 and len(stub.seen) >= 2 and len({seen["op_id"] for seen in stub.seen}) == 1
    # The tracker's words, and that they are not the first answer: "try again in 1 s" alone after seconds of
    # waiting would read as if the node had not tried
    assert re.fullmatch(r"too many changes; try again in 1 s \(this node waited \d s for it already\)",
                        info.value.message), info.value.message


async def test_a_login_lockout_reaches_the_caller_at_once_however_short(scripted: Any) -> None:
    stub = await scripted((429, {"error": {"code": "login_locked", "message": "too many failed logins"}},
                           {"Retry-After": "1"}), CREATED)
    client = TrackerClient([stub.address(1)], timeout_s=2)
    try:
        with pytest.raises(LoginLocked) as info:
            await asyncio.wait_for(client.write("POST", "/sessions", {"user_id": "u"}, auth=False), 30)
    finally:
        await client.close()
    assert info.value.retry_after == 1 and info.value.status == 429 and len(stub.seen) == 1


async def test_a_busy_503_moves_on_to_the_next_tracker_at_once(scripted: Any) -> None:
    busy = await scripted((503, BUSY[1], {"Retry-After": "600"}))
    good = await scripted(CREATED)
    client = TrackerClient([busy.address(1), good.address(2)], timeout_s=2)
    try:
        # Bounded far below the Retry-After: waiting for the busy one first would not end in time.
        answer = await asyncio.wait_for(client.write("POST", "/groups", {"group_id": "g1"}), 30)
    finally:
        await client.close()
    assert answer == {"group_id": "g1"} and client.current.rank == 2 and len(busy.seen) == 1


async def test_a_lone_busy_tracker_is_asked_again_once_its_retry_after_is_over(scripted: Any) -> None:
    stub = await scripted(BUSY, CREATED)
    client = TrackerClient([stub.address(1)], timeout_s=2, retry_s=0)  # no rounds for failures: only the wait
    try:
        answer = await asyncio.wait_for(client.write("POST", "/groups", {"group_id": "g1"}), 30)
    finally:
        await client.close()
    assert answer == {"group_id": "g1"} and len(stub.seen) == 2
    assert len({seen["op_id"] for seen in stub.seen}) == 1


async def test_a_busy_tracker_past_the_patience_is_unavailable_but_still_counts_as_reachable(scripted: Any) -> None:
    stub = await scripted((503, BUSY[1], {"Retry-After": "600"}))
    client = TrackerClient([stub.address(1)], timeout_s=2, retry_s=0)
    try:
        with pytest.raises(Unavailable, match="busy checking passwords"):
            await asyncio.wait_for(client.get("/groups"), 30)
    finally:
        await client.close()
    assert len(stub.seen) == 1 and client.reachable


async def test_a_redirect_is_not_followed_the_token_goes_nowhere_else(stubs: Any) -> None:
    elsewhere = await stubs(201, {"user_id": "u"})
    redirecting = await stubs(307, {}, {"Location": f"http://127.0.0.1:{elsewhere.server.port}/api/v1/groups"})
    client = TrackerClient([redirecting.address(1)], timeout_s=2, retry_s=0)
    client.session_token = "secret-session"
    try:
        with pytest.raises(Unavailable, match="a redirect"):
            await client.write("POST", "/groups", {"group_id": "g1"})
    finally:
        await client.close()
    assert elsewhere.seen == []


async def test_all_trackers_down_is_unavailable() -> None:
    client = TrackerClient([TrackerAddress("127.0.0.1", free_port(), 1),
                            TrackerAddress("127.0.0.1", free_port(), 2)], timeout_s=1, retry_s=0)
    try:
        with pytest.raises(Unavailable, match="no tracker could answer"):
            await client.get("/groups")
    finally:
        await client.close()


def test_path_segments_are_percent_encoded() -> None:
    assert path_of("groups", "g1", "files", "a b/c?.bin") == "/groups/g1/files/a%20b%2Fc%3F.bin"


async def test_a_new_round_follows_when_every_tracker_failed(stubs: Any) -> None:
    flaky = await stubs(503, {"error": {"code": "unavailable", "message": "electing"}})
    client = TrackerClient([flaky.address(1)], timeout_s=2, retry_s=1.2)
    try:
        with pytest.raises(Unavailable):
            await client.write("POST", "/groups", {"group_id": "g1"})
    finally:
        await client.close()
    assert len(flaky.seen) >= 2
    assert len({seen["op_id"] for seen in flaky.seen}) == 1


async def test_a_cluster_found_unreachable_fails_in_one_round_until_a_tracker_answers(stubs: Any) -> None:
    """After a call spent its rounds on a dead cluster, pages and commands must not each wait retry_s again:
    one round, then Unavailable; the first answer (say, the heartbeat's) makes the cluster reachable again."""
    flaky = await stubs(503, {"error": {"code": "unavailable", "message": "down"}})
    client = TrackerClient([flaky.address(1)], timeout_s=2, retry_s=1.2)
    reachable = [client.reachable]
    try:
        with pytest.raises(Unavailable):
            await client.get("/groups")
        rounds_while_reachable = len(flaky.seen)
        reachable.append(client.reachable)
        with pytest.raises(Unavailable):
            await client.get("/groups")
        assert rounds_while_reachable >= 2
        assert len(flaky.seen) == rounds_while_reachable + 1  # one round of the one tracker
        flaky.status, flaky.answer = 200, {"groups": []}
        assert await client.get("/groups") == {"groups": []}
        reachable.append(client.reachable)
    finally:
        await client.close()
    assert reachable == [True, False, True]


async def test_unavailable_names_each_tracker_and_its_cause_in_plain_words() -> None:
    ports = [free_port(), free_port()]
    client = TrackerClient([TrackerAddress("127.0.0.1", p, rank) for rank, p in enumerate(ports, 1)],
                           timeout_s=1, retry_s=0)
    try:
        with pytest.raises(Unavailable) as info:
            await client.get("/groups")
    finally:
        await client.close()
    assert info.value.message == (f"no tracker could answer (127.0.0.1:{ports[0]}: connection refused | "
                                  f"127.0.0.1:{ports[1]}: connection refused); try again in a moment")


async def test_a_tracker_that_answers_503_is_quoted_not_just_its_status(stubs: Any) -> None:
    no_majority = await stubs(503, {"error": {"code": "unavailable",
                                              "message": "no primary tracker reachable right now; retry"}})
    bare = await stubs(502, {})
    client = TrackerClient([no_majority.address(1), bare.address(2)], timeout_s=2, retry_s=0)
    try:
        with pytest.raises(Unavailable) as info:
            await client.get("/groups")
    finally:
        await client.close()
    assert info.value.message == (f"no tracker could answer (127.0.0.1:{no_majority.server.port}: HTTP 503: no "
                                  f"primary tracker reachable right now; retry | 127.0.0.1:{bare.server.port}: "
                                  "HTTP 502); try again in a moment")


async def test_a_tracker_that_says_no_is_the_one_asked_first_next_time(stubs: Any) -> None:
    broken = await stubs(500, {})
    refusing = await stubs(409, {"error": {"code": "conflict", "message": "already a member"}})
    client = TrackerClient([broken.address(1), refusing.address(2)], timeout_s=2)
    try:
        for _ in range(3):
            with pytest.raises(Conflict):
                await client.write("POST", "/groups/g1/join", {})
    finally:
        await client.close()
    assert len(broken.seen) == 1 and len(refusing.seen) == 3  # not the broken one first on every call
    assert client.current.rank == 2


class Frozen:
    """A tracker that takes the request and says nothing (SIGSTOPped: the kernel still accepts connections) until
    ``release`` is set."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1", port=free_port())

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(await request.json() if request.can_read_body else {})
        await self.release.wait()
        return web.json_response({}, status=503)


async def test_a_silent_tracker_is_not_waited_on_alone_the_next_one_is_asked_too(stubs: Any) -> None:
    frozen = Frozen()
    await frozen.server.start_server()
    good = await stubs(201, {"group_id": "g1"})
    client = TrackerClient([TrackerAddress("127.0.0.1", frozen.server.port or 0, 1),
                            good.address(2)], timeout_s=120, hedge_s=0.2)
    try:
        # Bounded far below timeout_s: waiting out the silent tracker first would not end in time.
        answer = await asyncio.wait_for(client.write("POST", "/groups", {"group_id": "g1"}), 30)
        assert answer == {"group_id": "g1"} and client.current.rank == 2
        assert frozen.seen[0]["op_id"] == good.seen[0]["op_id"]  # one write, asked twice: applied once
        assert await asyncio.wait_for(client.get("/groups"), 30) == {"group_id": "g1"}
        assert len(frozen.seen) == 1  # the next call starts with the tracker that answered
    finally:
        frozen.release.set()
        await client.close()
        await frozen.server.close()



async def test_a_write_a_silent_tracker_took_may_have_been_done_and_the_user_is_told_to_look_first() -> None:
    """A stalled tracker applies what it took once it goes on: "try again" led to "group id taken" (an audit)."""
    frozen = Frozen()
    await frozen.server.start_server()
    port = frozen.server.port or 0
    client = TrackerClient([TrackerAddress("127.0.0.1", port, 1)], timeout_s=0.3, retry_s=0)
    try:
        with pytest.raises(Unavailable) as wrote:
            await client.write("POST", "/groups", {"group_id": "g1"})
        with pytest.raises(Unavailable) as read:
            await client.get("/groups")
    finally:
        frozen.release.set()
        await client.close()
        await frozen.server.close()
    assert wrote.value.message == (f"no tracker could answer (127.0.0.1:{port}: no answer within "
                                   "0.3 s); it may have been done all the same: look before you try again")
    assert read.value.message.endswith("no answer within 0.3 s); try again in a moment")
    assert isinstance(wrote.value, UnansweredWrite) and not isinstance(read.value, UnansweredWrite)

class Electing(Stub):
    """A tracker that says "retry" (503: a new primary taking over) to its first two requests, then answers."""

    async def handle(self, request: web.Request) -> web.Response:
        if len(self.seen) >= 2:
            self.status, self.answer = 201, {"user_id": "u1"}
        return await super().handle(request)


async def test_a_tracker_that_says_retry_is_asked_again_while_a_silent_one_is_still_waited_on() -> None:
    """Of two trackers, the primary frozen and the other not yet elected: the other is asked again after a pause
    and its answer taken once it is elected, not after the frozen one's whole timeout."""
    frozen = Frozen()
    electing = Electing(503, {"error": {"code": "unavailable", "message": "a new primary is taking over"}})
    await frozen.server.start_server()
    await electing.server.start_server()
    client = TrackerClient([TrackerAddress("127.0.0.1", frozen.server.port or 0, 1), electing.address(2)],
                           timeout_s=120, retry_s=30, hedge_s=0.2)
    try:
        # Bounded far below timeout_s: waiting out the silent tracker first would not end in time.
        answer = await asyncio.wait_for(client.write("POST", "/users", {"user_id": "u1"}, auth=False), 30)
        assert answer == {"user_id": "u1"} and len(electing.seen) == 3
        assert {seen["op_id"] for seen in electing.seen} == {frozen.seen[0]["op_id"]}  # one write, asked again
    finally:
        frozen.release.set()
        await client.close()
        await frozen.server.close()
        await electing.server.close()


async def test_the_client_learns_the_trackers_time_and_says_once_when_the_clock_is_far_off(
        stubs: Any, caplog: pytest.LogCaptureFixture) -> None:
    tracker = await stubs(200, {"ok": True}, {"Date": date_header(time.time() - 400)})  # this machine is 400 s ahead
    client = TrackerClient([tracker.address(1)], timeout_s=2)
    await client.start()
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                await client.get("/groups")
        assert -402 <= client.clock.offset <= -398
        local = time.time()
        assert -402 <= client.clock.now() - local <= -398  # the trackers' time, not this machine's
        said = [r.getMessage() for r in caplog.records if "clock is" in r.getMessage()]
        assert len(said) == 1 and said[0].startswith("this computer's clock is 6 min 4")  # once, not per answer
    finally:
        await client.close()
