"""What a user (or leaving a group) does to a download once it exists: pause, resume, remove, and end those of a
group left; the ``DownloadManager`` runs them (a mixin: it holds the tasks and the per-download locks).

Theory of operation: each takes the download's lock, so it never interleaves with a start or another of these.
A running task is cancelled the way a logout cancels it (its partial file sealed, what each member gave kept),
unless the download is already finishing (``_cancel_unless_finishing``): it is then let finish, and the action
says so. Pause keeps the verified pieces and records ``P``; nothing resumes a paused download by itself (not a
login, not ``auto_resume``) until Resume, which starts it again from its pieces like a retry (or, when nobody
shares the file any more, leaves it waiting for a member who has it, as ``auto_resume`` watches a download that
lost its seeders). Remove deletes what
an unfinished download left; a complete file stays, and stays shared.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

from peer_node.auto_resume import RESUMES_NOTE
from peer_node.download_refusals import Key
from peer_node.views import DownloadState, DownloadView
from wire.errors import Conflict, NotFound
from wire.names import check_file_name, check_id

if TYPE_CHECKING:
    from pathlib import Path

    from peer_node.keyed_locks import KeyedLocks
    from peer_node.state import DownloadRecord, NodeState
    from peer_node.swarm.store import PieceStore


class DownloadControls(ABC):
    # Provided by DownloadManager.
    state: NodeState
    _tasks: dict[Key, asyncio.Task[None]]
    _starting: dict[Key, Path | None]
    _stores: dict[Key, PieceStore]
    _discarding: set[Key]
    _locks: KeyedLocks

    _on_change: Callable[[], None]

    @abstractmethod
    def _cancel_unless_finishing(self, key: Key, task: asyncio.Task[None]) -> bool: ...

    @abstractmethod
    def _remove_partial(self, rec: DownloadRecord) -> None: ...

    @abstractmethod
    async def _set_failed(self, rec: DownloadRecord, reason: str) -> None: ...

    @abstractmethod
    def view(self, rec: DownloadRecord) -> DownloadView: ...

    @abstractmethod
    async def start(self, user_id: str, group_id: str, file_name: str, destination: str, *,
                    resuming: DownloadRecord | None = None) -> DownloadView: ...

    async def stop_watching(self, rec: DownloadRecord, why: str) -> None:
        """A watched failed download that can no longer resume by itself (``auto_resume``): say why, and stop
        asking."""
        current = self.state.downloads.get(rec.key)
        if current is not None and current.state == DownloadState.FAILED.value:
            await self.state.put_download(current.with_(resume_when_seeded=False, reason=" ".join(why.split())))

    async def fail_group(self, user_id: str, group_id: str, reason: str) -> None:
        """End the user's running and paused downloads from ``group_id`` as ``F`` (access ended), deleting what
        they left. One already finishing is let finish (``_cancel_unless_finishing``), and stays complete. Each
        under its lock, as the other actions: a resume or a start landing meanwhile is wholly before or after."""
        # A download being started counts too: it asked the tracker before the leave reached it, and would record
        # and run its task once this had looked (it waits for the start to end, under its lock, then ends it)
        keys = {key for key in [*self._tasks, *self.state.downloads, *self._starting]
                if key[:2] == (user_id, group_id)}
        for key in sorted(keys):
            async with self._locks.hold(key):
                task = self._tasks.get(key)
                if task is not None:
                    self._cancel_unless_finishing(key, task)
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                rec = self.state.downloads.get(key)
                if rec is not None and rec.state in (DownloadState.RUNNING.value, DownloadState.PAUSED.value):
                    await asyncio.to_thread(self._remove_partial, rec)
                    # nothing it fetched is kept: what members gave it no longer counts either
                    await self._set_failed(rec.with_(bytes_kept=0, kept_bits="", bytes_by_peer={}), reason)

    async def remove(self, user_id: str, group_id: str, file_name: str) -> DownloadView:
        """Take a download off the list (see the module docstring); returns how it stood when it was removed.
        One remove at a time per download: a second one sent meanwhile finds it gone (404)."""
        key = _key(user_id, group_id, file_name)
        async with self._locks.hold(key):
            return await self._remove(key)

    async def _remove(self, key: Key) -> DownloadView:
        _, group_id, file_name = key
        if key not in self.state.downloads:
            raise NotFound(f"there is no download of {file_name} from {group_id}")
        task = self._tasks.get(key)
        if task is not None:
            if self._cancel_unless_finishing(key, task):
                self._discarding.add(key)  # before the cancellation reaches the task, on the loop's next turn
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            finally:
                self._discarding.discard(key)
        rec = self.state.downloads.get(key)
        if rec is None:  # ended meanwhile (the group was left, the user logged out)
            raise NotFound(f"there is no download of {file_name} from {group_id}")
        view = self.view(rec)
        if rec.state != DownloadState.COMPLETE.value:
            await asyncio.to_thread(self._remove_partial, rec)
        await self.state.drop_download(key)
        self._on_change()
        return view

    async def pause(self, user_id: str, group_id: str, file_name: str) -> DownloadView:
        """Stop a running download, keeping its verified pieces, until ``resume``."""
        key = _key(user_id, group_id, file_name)
        async with self._locks.hold(key):
            rec = _existing(self.state.downloads.get(key), group_id, file_name)
            if rec.state != DownloadState.RUNNING.value:
                raise Conflict(f"the download of {file_name} from {group_id} is not running "
                               f"({_state_words(rec.state)}): only a running download can be paused")
            task = self._tasks.get(key)
            store = self._stores.get(key)
            kept = store.bytes_verified if store is not None else rec.bytes_kept
            kept_bits = store.bitfield().hex() if store is not None else rec.kept_bits
            if task is not None:
                if not self._cancel_unless_finishing(key, task):
                    raise Conflict(f"the download of {file_name} from {group_id} is finishing: "
                                   "it is complete in a moment")
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            rec = _existing(self.state.downloads.get(key), group_id, file_name)  # what each member gave, kept
            if rec.state != DownloadState.RUNNING.value:  # it ended meanwhile (complete, failed): say how
                raise Conflict(f"the download of {file_name} from {group_id} is {_state_words(rec.state)} now")
            paused = rec.with_(state=DownloadState.PAUSED.value, bytes_kept=kept, kept_bits=kept_bits, reason="")
            await self.state.put_download(paused)
            self._on_change()
            return self.view(paused)

    async def resume(self, user_id: str, group_id: str, file_name: str) -> DownloadView:
        """Start a paused download again from its verified pieces (as a retry does)."""
        key = _key(user_id, group_id, file_name)
        rec = _existing(self.state.downloads.get(key), group_id, file_name)
        if rec.state != DownloadState.PAUSED.value:
            raise Conflict(f"the download of {file_name} from {group_id} is not paused ({_state_words(rec.state)})")
        try:
            return await self.start(user_id, group_id, file_name, rec.destination, resuming=rec)
        except NotFound:
            # Off the group's list now: its last sharer stopped sharing it or went offline while it was paused.
            # Staying paused with "no file named ..." read as if it never existed, and nothing would start it
            # when the sharer is back; so it waits for a seeder as a download that lost its seeders does.
            async with self._locks.hold(key):
                if self.state.downloads.get(key) is not rec:  # removed or changed meanwhile: as it was said
                    raise
                await self._set_failed(rec.with_(resume_when_seeded=True),
                                       f"nobody shares {file_name} now (it is no longer on the group's list); "
                                       f"{RESUMES_NOTE}")
            self._on_change()
            return self.view(self.state.downloads[key])


def _key(user_id: str, group_id: str, file_name: str) -> Key:
    check_id(group_id, "group id")
    check_file_name(file_name)
    return (user_id, group_id, file_name)


def _existing(rec: DownloadRecord | None, group_id: str, file_name: str) -> DownloadRecord:
    if rec is None:
        raise NotFound(f"there is no download of {file_name} from {group_id}")
    return rec


def _state_words(state: str) -> str:
    return {"D": "running", "C": "complete", "F": "failed", "P": "paused"}.get(state, state)
