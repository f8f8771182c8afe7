"""Writing the node's state documents: one write at a time, changes asked for meanwhile stored together.

Each document is rewritten whole (``write_atomic``). Written once per change, a node with many records spent its
time rewriting: 200 downloads of big files (13 MB of ``downloads.json``, their piece hashes) took 35 s to start one
after the other and 79 s at once, the event loop encoding JSON all along. So each change takes a snapshot of its
document when it is asked to be saved (a list of references to frozen records: cheap, on the loop), and a write
stores the newest snapshot it may: the changes of the snapshots before it are stored with it, and their callers
return at once. Encoding and writing run in a thread.

The order across documents holds as if each change were written alone: a write never takes a snapshot asked for
after a save of another document still waiting its turn. ``downloads.json`` may not record a download complete
before ``shares.json`` holds its share (``DownloadManager._complete``), even when a save of ``downloads.json`` was
already waiting when the share's save was asked for.

A write that fails stores nothing: each change it held is then written again by its own caller, who hears the
failure if the disk still refuses (``StateNotSaved``) and undoes its own change (``NodeState``). A caller that
hears "stored" is stored. One that hears a failure may still find its change stored by a later write whose
snapshot was taken before the undo, if the disk took that one (as when each change was written alone). A caller
cancelled while its thread writes waits for the write to end before it lets the next one begin: two writes of one
document at once could leave the older one on disk.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peer_node.loop_task import finished_even_if_cancelled
from wire.errors import GroupShareError

log = logging.getLogger(__name__)

Encode = Callable[[], Any]  # builds the document (in a thread) from what a snapshot took


class StateNotSaved(GroupShareError):
    """The node could not write a state file (a full disk, an I/O error): the change was undone. A 503: the
    request was fine and may succeed once the disk has room (not ``Unavailable``, which means a peer or tracker
    is away and makes a download wait for a seeder)."""

    status = 503
    code = "state_not_saved"


@dataclass(frozen=True, slots=True)
class _Asked:
    seq: int
    name: str
    encode: Encode


class DocumentWrites:
    def __init__(self, data_dir: Path, write: Callable[[Path, bytes], None]) -> None:
        self.data_dir = data_dir
        self._write = write
        self._lock = asyncio.Lock()
        self._seq = itertools.count(1)
        self._waiting: list[_Asked] = []  # saves asked for and not yet stored nor given up, in order
        self._stored: dict[str, int] = {}  # document -> seq of the newest snapshot on disk

    async def save(self, name: str, snapshot: Callable[[], Encode]) -> None:
        """Store ``name`` with this caller's change, already made in memory; ``snapshot`` runs now, on the loop,
        and returns what builds the document in the thread."""
        mine = _Asked(next(self._seq), name, snapshot())
        self._waiting.append(mine)
        try:
            async with self._lock:
                if self._stored.get(name, 0) >= mine.seq:
                    return  # a write that took a later snapshot stored this change
                newest = self._newest_for(mine)
                writing = asyncio.ensure_future(asyncio.to_thread(self._encode_and_write, name, newest.encode))
                await finished_even_if_cancelled(writing)
                self._stored[name] = newest.seq
        except OSError as exc:
            log.warning("cannot save %s: %s", name, exc)
            raise StateNotSaved(f"the node cannot save its state in {self.data_dir}: "
                                f"{exc.strerror or exc}") from None
        finally:
            self._waiting.remove(mine)

    def _newest_for(self, mine: _Asked) -> _Asked:
        """The newest snapshot of ``mine``'s document asked for before the first save of another document still
        waiting (those asked before ``mine`` have had their turn: the lock goes in order)."""
        barrier = min((a.seq for a in self._waiting if a.name != mine.name and a.seq > mine.seq), default=None)
        return max((a for a in self._waiting if a.name == mine.name and (barrier is None or a.seq < barrier)),
                   key=lambda a: a.seq)

    def _encode_and_write(self, name: str, encode: Encode) -> None:
        self._write(self.data_dir / name, json.dumps(encode(), separators=(",", ":")).encode("utf-8"))

