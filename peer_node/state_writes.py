"""Writing the node's state documents: one write at a time, changes made meanwhile stored together.

Each document is rewritten whole (``write_atomic``). Written once per change, a node with many records spent its
time rewriting: 200 downloads of big files (13 MB of ``downloads.json``, their piece hashes) took 35 s to start one
after the other and 79 s at once, the event loop encoding JSON all along. So a write stores the document as it is
when the write begins, and every change made before that is stored by it: a change whose write has not begun
when an earlier one ends finds itself stored by the next and returns at once. Only taking the snapshot (a list of
references to frozen records) runs on the loop; encoding and writing run in a thread.

A write that fails stores nothing: every change it held is then written again by its own caller, who hears the
failure if the disk still refuses (``StateNotSaved``) and undoes its own change (``NodeState``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wire.errors import GroupShareError

log = logging.getLogger(__name__)

Encode = Callable[[], Any]  # builds the document (in a thread) from what a snapshot took


class StateNotSaved(GroupShareError):
    """The node could not write a state file (a full disk, an I/O error): the change was undone. A 503: the
    request was fine and may succeed once the disk has room (not ``Unavailable``, which means a peer or tracker
    is away and makes a download wait for a seeder)."""

    status = 503
    code = "state_not_saved"


class DocumentWrites:
    def __init__(self, data_dir: Path, write: Callable[[Path, bytes], None]) -> None:
        self.data_dir = data_dir
        self._write = write
        self._lock = asyncio.Lock()
        self._asked: Counter[str] = Counter()  # changes asked of each document, counted
        self._stored: Counter[str] = Counter()  # of those, how many the last write that succeeded held

    async def save(self, name: str, snapshot: Callable[[], Encode]) -> None:
        """Store ``name`` with this caller's change (already made in memory). ``snapshot`` runs on the loop when
        the write begins and returns what builds the document in the thread."""
        self._asked[name] += 1
        mine = self._asked[name]
        async with self._lock:
            if self._stored[name] >= mine:
                return  # a write that began after this change stored it
            upto, encode = self._asked[name], snapshot()
            try:
                await asyncio.to_thread(self._encode_and_write, self.data_dir / name, encode)
            except OSError as exc:
                log.warning("cannot save %s: %s", name, exc)
                raise StateNotSaved(f"the node cannot save its state in {self.data_dir}: "
                                    f"{exc.strerror or exc}") from None
            self._stored[name] = upto

    def _encode_and_write(self, path: Path, encode: Encode) -> None:
        self._write(path, json.dumps(encode(), separators=(",", ":")).encode("utf-8"))
