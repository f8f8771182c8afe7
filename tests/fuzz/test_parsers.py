"""Hypothesis fuzzing of the parsers that take hostile input: the peer frame decoder and session state machine,
the tracker-list parser and the node's command parser (pure, and behind the real /cmd door). Only each module's
own error type may escape, and memory stays bounded whatever a frame header claims. (tests/wire/ already feeds
random bytes and corrupted streams to the decoder; these add structured headers, the state machine, grammar-built
tracker lists and command lines.)"""

from __future__ import annotations

import base64
import contextlib
import struct
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peer_node.commands import COMMANDS, MAX_LINE_BYTES, parse_line
from peer_node.tracker_client import TrackerClient
from tests.support.offline_node import api_key, start_offline_node
from wire.errors import BadInput, TooLarge
from wire.frame_receiver import FrameReceiver
from wire.peer_protocol import (
    FROM_CLIENT,
    FROM_SERVER,
    HEADER_SIZE,
    MAX_FRAME,
    Handshake,
    MsgType,
    ProtocolError,
    encode,
)
from wire.peer_session import Geometry, PeerSession, Role
from wire.records import FileMeta, SeederInfo
from wire.tokens import InvalidToken, TokenVerifier, public_key_hex, signing_key_from_secret
from wire.tracker_list import TrackerListError, parse_tracker_list

# --- the frame decoder: headers that lie about their length ----------------------------------------------------
kinds = st.one_of(st.sampled_from([int(k) for k in MsgType]), st.integers(0, 255))
lengths = st.one_of(st.integers(0, 64), st.integers(0, MAX_FRAME + 16), st.integers(MAX_FRAME, 0xFFFFFFFF))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(lengths, kinds, st.binary(max_size=300)), min_size=1, max_size=6), st.integers(1, 97),
       st.booleans())
def test_lying_frame_headers_raise_only_protocol_errors_and_memory_stays_bounded(
        frames: list[tuple[int, int, bytes]], chunk: int, server_side: bool) -> None:
    stream = b"".join(struct.pack(">IB", length, kind) + body for length, kind, body in frames)
    receiver = FrameReceiver(accept=FROM_CLIENT if server_side else FROM_SERVER)
    with contextlib.suppress(ProtocolError):
        for i in range(0, len(stream), chunk):
            receiver.feed(stream[i:i + chunk])
            # Nothing is allocated for what a header merely claims: only for bytes that really arrived, up
            # to one frame's worth.
            assert receiver.buffered <= len(stream)
            assert len(receiver.get_buffer()) <= MAX_FRAME + HEADER_SIZE


def test_a_header_claiming_four_gib_allocates_nothing() -> None:
    tracemalloc.start()
    try:
        receiver = FrameReceiver(accept=FROM_SERVER)
        with pytest.raises(ProtocolError):
            receiver.feed(struct.pack(">IB", 0xFFFFFFFF, int(MsgType.PIECE)) + b"\0" * 8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


# --- the session state machine: any decoded event in any state ---------------------------------------------------
GEO = Geometry(size=100_000, piece_size=16384)
SHA = bytes(32)
u32 = st.integers(0, 0xFFFFFFFF)
raw_frames = st.one_of(
    st.builds(lambda i: struct.pack(">IBI", 5, int(MsgType.HAVE), i), u32),
    st.builds(lambda k, a, b, c: struct.pack(">IBIII", 13, k, a, b, c),
              st.sampled_from([int(MsgType.REQUEST), int(MsgType.CANCEL), int(MsgType.REJECT)]),
              st.integers(0, 9), st.integers(0, 40000), st.integers(1, 20000)),
    st.builds(lambda a, b, d: struct.pack(">IBII", 9 + len(d), int(MsgType.PIECE), a, b) + d,
              st.integers(0, 9), st.integers(0, 40000), st.binary(min_size=1, max_size=64)),
    st.builds(lambda bits: struct.pack(">IB", 1 + len(bits), int(MsgType.BITFIELD)) + bits, st.binary(max_size=3)),
    st.just(struct.pack(">IB", 1, int(MsgType.KEEPALIVE))),
    st.just(encode(Handshake(SHA, b"token"))),
    st.just(struct.pack(">IB", 3, int(MsgType.GOODBYE)) + b"no"),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(raw_frames, max_size=12), st.booleans(), st.booleans())
def test_any_frame_sequence_drives_either_session_only_into_protocol_errors(
        frames: list[bytes], as_server: bool, opened: bool) -> None:
    session = PeerSession(Role.SERVER if as_server else Role.CLIENT, max_outstanding=4)
    receiver = FrameReceiver()
    with contextlib.suppress(ProtocolError):
        if opened and as_server:
            session.receive(receiver.feed(encode(Handshake(SHA, b"t")))[0])
            session.accept(GEO, b"\xfe")
        elif opened:
            session.start(Handshake(SHA, b"t"), GEO)
        for frame in frames:
            for event in receiver.feed(frame):
                session.receive(event)
        assert session.outstanding <= 4


# --- the tracker list: lines built from its own grammar's pieces --------------------------------------------------
words = st.one_of(
    st.sampled_from(["127.0.0.1", "::1", "[::1]", "[::1]:7001", "localhost", "tracker-1.example", "1.2.3.4:",
                     ":80", "0", "65535", "65536", "-1", "7001", "x:y", "#", "# comment", "[", "]", "a b", "\t",
                     "127.0.0.1:\u00b2", "\u00b2", "\u0663", "[::1]:\u00b2"]),
    st.from_regex(r"\A[0-9a-z.:\[\]-]{1,20}\Z"), st.text(max_size=8))
tracker_lines = st.lists(st.lists(words, max_size=4).map(" ".join), max_size=8).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(tracker_lines)
def test_grammar_built_tracker_lists_parse_or_raise_only_tracker_list_error(text: str) -> None:
    try:
        trackers = parse_tracker_list(text)
    except TrackerListError as exc:
        assert str(exc).startswith("line ")
        return
    assert 1 <= len(trackers) <= len(text.splitlines())
    for t in trackers:
        assert 1 <= t.port <= 65535 and t.host and not any(c.isspace() for c in t.host)


# --- records a node receives from a tracker, and a tracker from a member --------------------------------------------
json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.floats(),
                                     st.text(max_size=20), st.sampled_from(["all", "AA==", "1.2.3.4:\u00b2", "h:80"])),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=4), max_leaves=10)
record_keys = st.sampled_from(["user_id", "addr", "pieces", "fingerprint", "file_name", "size", "piece_size",
                               "sha256", "piece_hashes"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(record_keys, json_values, max_size=9), st.integers(0, 40))
def test_seeder_and_file_records_parse_or_raise_only_bad_input(data: dict[str, Any], pieces: int) -> None:
    for parse in (lambda: SeederInfo.from_json(data, pieces), lambda: FileMeta.from_json(data)):
        with contextlib.suppress(BadInput):
            parse()


# --- the command parser -----------------------------------------------------------------------------------------
arg = st.one_of(st.from_regex(r"\A[A-Za-z0-9._-]{1,70}\Z"), st.text(max_size=40),
                st.sampled_from(["../x", "/etc/passwd", "a\x00b", "<script>", "''", '"', "\\", "$(id)", "`id`"]))
quoted = arg.map(lambda a: "'" + a.replace("'", "'\"'\"'") + "'")
command_lines = st.one_of(
    st.text(max_size=200),
    st.tuples(st.sampled_from(sorted(COMMANDS)), st.lists(st.one_of(arg, quoted), max_size=4)).map(
        lambda t: " ".join([t[0], *t[1]])),
)


@settings(max_examples=250, deadline=None)
@given(command_lines)
def test_any_command_line_parses_or_raises_only_bad_input(line: str) -> None:
    try:
        cmd, args = parse_line(line)
    except BadInput:
        return
    assert cmd.name in COMMANDS and len(args) == len(cmd.args)


def test_an_overlong_line_is_refused_before_it_is_split() -> None:
    with pytest.raises(TooLarge):
        parse_line("help " + "'" * (MAX_LINE_BYTES + 1))


@pytest.fixture
async def node(aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path) -> tuple[Any, str]:
    client, config = await start_offline_node(aiohttp_client, tmp_path)
    return client, api_key(config)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(command_lines, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
async def test_any_line_sent_to_cmd_gets_a_4xx_or_5xx_error_line_never_a_crash(node: tuple[Any, str],
                                                                              line: str) -> None:
    client, key = node
    resp = await client.post("/cmd", data=line.encode("utf-8", "surrogateescape"),
                             headers={"Authorization": f"Bearer {key}"})
    text = await resp.text()
    assert resp.status != 500
    if resp.status >= 400:
        assert resp.status in (400, 401, 403, 404, 409, 413, 503) and text.startswith("error: ")
        assert text.count("\n") == 1


# --- JSON nested deeper than Python's recursion limit -----------------------------------------------------------
DEEP = b"[" * 5000


def test_a_token_of_deeply_nested_json_is_an_invalid_token_before_any_signature_check() -> None:
    body = base64.urlsafe_b64encode(b"[" * 1500).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        TokenVerifier([public_key_hex(signing_key_from_secret(b"k" * 32))]).verify(f"{body}.AA", now=0,
                                                                                   file_sha256="0" * 64)


def test_a_tracker_answer_of_deeply_nested_json_is_a_bad_answer_not_a_crash() -> None:
    with pytest.raises(Exception) as info:
        TrackerClient._answer(200, DEEP, None)
    assert not isinstance(info.value, RecursionError)
