"""A snapshot's JSON, written and read in bounded pieces on a worker thread, so that the event loop keeps serving.

Why: a snapshot is every table and the log (139 MB for 20,000 entries of shares). Encoded or decoded on the event
loop, it stopped the tracker for seconds (heartbeats, list_files, pings: everything). A worker thread alone does not
help: json's C encoder and decoder hold the GIL for a whole call, so one ``json.dumps`` of the snapshot in a thread
stops the loop just as surely. So the work is cut into pieces: the encoder turns a batch of rows into JSON at a
time, the batch sized so that a piece is about ``PIECE_BYTES`` (halved or doubled after each piece), and the decoder
hands json one row at a time. Between two pieces the thread runs Python bytecode, where CPython passes the GIL to
the waiting loop (``sys.getswitchinterval``: 5 ms); a piece of 1 MiB takes a few ms to encode. A process would free
the loop entirely, but would have to be handed the same data through a pipe (the same encoding again, or a read of
SQLite of its own and 139 MB back through a pipe): measured, the thread's pieces already keep the loop's stalls to
tens of milliseconds (the commit that brought this module says how much).

The bytes on the wire are plain JSON, as before (a tracker of the previous release reads them, and this decoder
reads that one's): ``decode`` walks any JSON object, and only the nesting is walked by hand, down to ``depth``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

PIECE_BYTES = 1 << 20
FIRST_BATCH, MOST_BATCH = 64, 1 << 14
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # ASCII (ensure_ascii): a str's length is its bytes'
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def encode_rows(rows: list[list[Any]]) -> bytes:
    """One piece: the rows of a batch, comma-separated, without the brackets (module-level: a test's hook)."""
    return _ENCODER.encode(rows)[1:-1].encode("ascii")


def _cells(row: Sequence[Any]) -> list[Any]:
    return [v.hex() if isinstance(v, bytes) else v for v in row]  # blobs as hex, as ``Store.dump`` has them


def next_batch(size: int, piece_len: int) -> int:
    """The next batch's row count after a batch of ``size`` rows encoded to ``piece_len`` bytes."""
    if piece_len > PIECE_BYTES and size > 1:
        return size // 2
    if piece_len < PIECE_BYTES // 4 and size < MOST_BATCH:
        return size * 2
    return size


def encode_tables(tables: Iterable[tuple[str, Iterable[Sequence[Any]]]]) -> list[bytes]:
    """The JSON object ``{table: [row, ...], ...}`` as a list of pieces (``b"".join`` them), rows read lazily."""
    out: list[bytes] = [b"{"]
    for t, (name, rows) in enumerate(tables):
        out.append((b"," if t else b"") + json.dumps(name).encode("ascii") + b":[")
        size, batch, first = FIRST_BATCH, [], True
        for row in rows:
            batch.append(_cells(row))
            if len(batch) >= size:
                piece = encode_rows(batch)
                out.append(piece if first else b"," + piece)
                size, batch, first = next_batch(size, len(piece)), [], False
        if batch:
            piece = encode_rows(batch)
            out.append(piece if first else b"," + piece)
        out.append(b"]")
    out.append(b"}")
    return out


def decode(raw: bytes | str, depth: int) -> Any:
    """``json.loads(raw)``, but objects and arrays down to ``depth`` levels are walked here, so that json is handed
    one value below that at a time. Raises ValueError (json's own, or for a malformed structure) as loads does."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    value, end = _value(text, _skip(text, 0), depth)
    if _skip(text, end) != len(text):
        raise ValueError(f"extra data at {end}")
    return value


def _skip(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    assert match is not None  # matches the empty string
    return match.end()


def _value(text: str, at: int, depth: int) -> tuple[Any, int]:
    opener = text[at:at + 1]
    if depth <= 0 or opener not in ("{", "["):
        return _DECODER.raw_decode(text, at)
    closer = "}" if opener == "{" else "]"
    items: list[Any] = []
    members: dict[str, Any] = {}
    at = _skip(text, at + 1)
    if text[at:at + 1] == closer:
        return (members if opener == "{" else items), at + 1
    while True:
        if opener == "{":
            key, at = _key(text, at)
            members[key], at = _value(text, _skip(text, at), depth - 1)
        else:
            item, at = _value(text, at, depth - 1)
            items.append(item)
        at = _skip(text, at)
        sep = text[at:at + 1]
        if sep == closer:
            return (members if opener == "{" else items), at + 1
        if sep != ",":
            raise ValueError(f"expected ',' or {closer!r} at {at}")
        at = _skip(text, at + 1)


def _key(text: str, at: int) -> tuple[str, int]:
    key, at = _DECODER.raw_decode(text, at)
    if not isinstance(key, str):
        raise ValueError(f"an object key must be a string (at {at})")
    at = _skip(text, at)
    if text[at:at + 1] != ":":
        raise ValueError(f"expected ':' at {at}")
    return key, _skip(text, at + 1)

