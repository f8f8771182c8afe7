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

Nor is anything of 100+ MB handled in one call: a ``b"".join`` or a UTF-8 decoding of the whole body holds the GIL
for ~100 ms each (measured). The encoder writes a newline after each piece (whitespace, outside any string), and
the decoder cuts the body's chunks at newlines into pieces of about ``PIECE_BYTES``, decoding one at a time.

The bytes on the wire are plain JSON, as before (a tracker of the previous release reads them, and this decoder
reads that one's, as a single piece): ``decode`` walks any JSON object, and only the nesting is walked by hand,
down to ``depth``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import Any

PIECE_BYTES = 1 << 20
CHUNK = 1 << 16  # what ``decode`` cuts bytes given whole into, as a request's body is read
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
    return next(encode_parts(tables, math.inf))[0]


def encode_parts(tables: Iterable[tuple[str, Iterable[Sequence[Any]]]],
                 part_bytes: float) -> Generator[tuple[list[bytes], bool], None, None]:
    """The tables as a run of JSON objects of that form, each ``(pieces, last)`` and at most ``part_bytes`` long
    (but for a single row longer than that: it goes alone), cut between rows: a table may go on in the next part.
    Every table is named in the part where its rows start, even one without rows. Lazy: a part is read and encoded
    when asked for, so that only one is held at a time."""
    out = _Parts(part_bytes)
    for name, rows in tables:
        out.open(name)
        size, batch = FIRST_BATCH, []
        for row in rows:
            batch.append(_cells(row))
            if len(batch) >= size:
                size = next_batch(size, out.place(batch))
                batch = []
                yield from out.take()
        if batch:
            out.place(batch)
            yield from out.take()
        out.close_table()
    yield out.finish(), True


class _Parts:
    """The part being written and those finished (``encode_parts``)."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.done: list[list[bytes]] = []
        self._start()

    def _start(self) -> None:
        self.pieces, self.size, self.rows, self.tables = [b"{"], 1, 0, 0
        self.table: str | None = None
        self.first = True  # no row of the open table in this part yet

    def open(self, name: str) -> None:
        head = (b",\n" if self.tables else b"") + json.dumps(name).encode("ascii") + b":[\n"
        self.pieces.append(head)
        self.size += len(head)
        self.table, self.first, self.tables = name, True, self.tables + 1

    def close_table(self) -> None:
        self.pieces.append(b"]")
        self.size += 1
        self.table = None

    def place(self, batch: list[list[Any]]) -> int:
        """Add the rows to this part, or to the next if they would take it past the budget (halved until they fit,
        down to one row). Returns the length of the batch's encoding, for ``next_batch``."""
        piece = encode_rows(batch)
        if self.size + len(piece) + 4 > self.budget and self.rows:  # 4: ",\n" and the "]}" that close it
            self._cut()
        if self.size + len(piece) + 4 > self.budget and len(batch) > 1:
            half = len(batch) // 2
            self.place(batch[:half])
            self.place(batch[half:])
            return len(piece)
        self.pieces.append(piece if self.first else b",\n" + piece)
        self.size += len(self.pieces[-1])
        self.rows, self.first = self.rows + len(batch), False
        return len(piece)

    def _cut(self) -> None:
        table = self.table
        assert table is not None
        self.close_table()
        self.done.append(self.finish())
        self._start()
        self.open(table)

    def finish(self) -> list[bytes]:
        self.pieces.append(b"}")
        return self.pieces

    def take(self) -> Iterator[tuple[list[bytes], bool]]:
        while self.done:
            yield self.done.pop(0), False


def decode(raw: bytes | bytearray | Iterable[bytes], depth: int) -> Any:
    """``json.loads`` of the bytes (or of the chunks, joined), but objects and arrays down to ``depth`` levels are
    walked here, so that json is handed one value below that at a time, and the text is decoded a piece at a time
    (``_pieces``). Raises ValueError (json's own, or for a malformed structure) where loads does."""
    cur = _Cursor(_pieces(_chunks(raw) if isinstance(raw, (bytes, bytearray)) else raw))
    cur.skip()
    value = _value(cur, depth)
    cur.skip()
    if cur.at != len(cur.text):
        raise ValueError("extra data after the JSON value")
    return value


def _chunks(whole: bytes | bytearray) -> Iterator[bytes]:
    for i in range(0, len(whole), CHUNK):
        yield bytes(whole[i:i + CHUNK])


def _pieces(chunks: Iterable[bytes]) -> Iterator[str]:
    """The text in pieces of about ``PIECE_BYTES`` or more, each cut just after a newline: outside a string, as JSON
    has none inside one, so a piece is whole UTF-8 and cuts no token (``encode_tables`` writes one after each piece;
    a body without one is a single piece). Neither a join nor a decoding of 100+ MB at once: each holds the GIL."""
    held: list[bytes] = []
    size = 0
    for chunk in chunks:
        cut = chunk.rfind(b"\n") if size + len(chunk) >= PIECE_BYTES else -1
        if cut < 0:
            held.append(chunk)
            size += len(chunk)
            continue
        held.append(chunk[:cut + 1])
        yield b"".join(held).decode("utf-8")
        held, size = [chunk[cut + 1:]], len(chunk) - cut - 1
    yield b"".join(held).decode("utf-8")


class _Cursor:
    """A place in the text; the next piece is added to what is left of the current one when a value needs it."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self.text, self.at = "", 0

    def more(self) -> bool:
        piece = next(self._pieces, None)
        if piece is None:
            return False
        self.text, self.at = self.text[self.at:] + piece, 0
        return True

    def skip(self) -> None:
        while True:
            match = _SPACE.match(self.text, self.at)
            assert match is not None  # matches the empty string
            self.at = match.end()
            if self.at < len(self.text) or not self.more():
                return

    def peek(self) -> str:
        return self.text[self.at:self.at + 1]

    def value(self) -> Any:
        """One JSON value from here. A value that ends where the text held ends may go on in the next piece (a
        number), and one that fails there may be whole with it (cut after a comma): both are read again with it."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.at)
            except json.JSONDecodeError as exc:
                if exc.pos >= len(self.text) and self.more():
                    continue
                raise
            if end < len(self.text) or not self.more():
                self.at = end
                return value


def _value(cur: _Cursor, depth: int) -> Any:
    opener = cur.peek()
    if depth <= 0 or opener not in ("{", "["):
        return cur.value()
    closer = "}" if opener == "{" else "]"
    items: list[Any] = []
    members: dict[str, Any] = {}
    cur.at += 1
    cur.skip()
    if cur.peek() == closer:
        cur.at += 1
        return members if opener == "{" else items
    while True:
        if opener == "{":
            key = cur.value()
            if not isinstance(key, str):
                raise ValueError("an object key must be a string")
            cur.skip()
            if cur.peek() != ":":
                raise ValueError("expected ':' after an object key")
            cur.at += 1
            cur.skip()
            members[key] = _value(cur, depth - 1)
        else:
            items.append(_value(cur, depth - 1))
        cur.skip()
        sep = cur.peek()
        if sep == closer:
            cur.at += 1
            return members if opener == "{" else items
        if sep != ",":
            raise ValueError(f"expected ',' or {closer!r}")
        cur.at += 1
        cur.skip()
