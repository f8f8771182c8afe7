"""The node's shares: hashing a file to share it, serving it in place, and re-checking it at each login.

Theory of operation: a share is a local file, its FileMeta (piece and whole-file SHA-256) and the size, mtime and
ctime it had when hashed. It is served in place through a complete PieceStore registered in the swarm's catalog (keyed
by the file's SHA-256, so one store serves the same content shared in several groups). At login (or start-up
while logged in) a share whose file still has its size, mtime and ctime is served at once; one whose file moved is
re-hashed in the background and served again only if the hash still matches; a file found with other bytes is
dropped, locally and at the tracker, so nobody is sent to a node that would serve wrong bytes. A file that is
gone or cannot be read (a drive unplugged, a permission taken away) keeps its share, unserved and shown as
unavailable, until it is back (``share_absence``).

The same check runs every ``share_check_s`` while the node serves: a file truncated, rewritten or deleted under a
running share stops being served at once (its store is closed, so senders say "file no longer served" instead of
sending short or wrong pieces that a downloader would wait on or throw away), and is then re-hashed like at login.
The stat compares the ctime too, which no call can set back: a rewrite that puts size and mtime back (``touch -d``,
``cp -p``) is seen like any other. What no stat sees (bit rot) downloaders catch: they verify every piece and drop a
peer that keeps sending bad ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peer_node.hashing import FileHashes, Progress, hash_in_thread
from peer_node.keyed_locks import KeyedLocks
from peer_node.share_absence import Absences, absence_words, changed_since, signature
from peer_node.state import ShareRecord, StateNotSaved
from peer_node.swarm.store import PieceStore
from peer_node.tracker_client import path_of
from peer_node.upload_copies import delete_if_unused
from peer_node.views import SharedFile
from wire.errors import GroupShareError, NotFound, NotLoggedIn
from wire.records import FileMeta

if TYPE_CHECKING:
    from peer_node.service import NodeService

log = logging.getLogger(__name__)


class ShareKeeper:
    def __init__(self, service: NodeService) -> None:
        self.service = service
        self.state = service.state
        self._stores: dict[str, PieceStore] = {}  # sha256 -> complete store we registered
        self._serving: set[tuple[str, str, str]] = set()  # share keys being served
        self._checks: set[asyncio.Task[None]] = set()
        self._rechecking: set[tuple[str, str, str]] = set()  # share keys being re-hashed
        self.absent = Absences()  # shares whose file is gone or unreadable now: kept, not served
        # When (monotonic) each share was recorded in this run: a group listing asked before then cannot end it.
        self._recorded_at: dict[tuple[str, str, str], float] = {}
        self._watch: asyncio.Task[None] | None = None
        self.locks = KeyedLocks()  # per share key: share and stop_share of one file never interleave

    # --- sharing a new file
    async def share(self, user_id: str, group_id: str, path: str, progress: Progress | None,
                    generation: int) -> SharedFile:
        """Hash ``path``, record it, tell the tracker. One command at a time per share key (``locks``): with
        ``stop_share`` or a second upload of the same name in between, node and tracker ended up disagreeing.
        ``generation``: the login the caller found ``user_id`` in (``login_generation``); a logout since (and
        maybe another user's login) refuses the share."""
        async with self.locks.hold((user_id, group_id, os.path.basename(path))):
            if self.service.login_generation != generation:
                raise NotLoggedIn("logged out while the share was being checked; nothing was shared")
            return await self._share(user_id, group_id, path, progress, generation)

    async def _share(self, user_id: str, group_id: str, path: str, progress: Progress | None,
                     generation: int) -> SharedFile:
        hashes = await hash_in_thread(path, self.service.config.piece_size, progress)
        if self.service.login_generation != generation:  # logged out (maybe in as another user) while hashing
            raise NotLoggedIn("logged out while the file was being hashed; nothing was shared")
        meta = FileMeta(os.path.basename(path), hashes.size, hashes.piece_size, hashes.sha256, hashes.piece_hashes)
        record = ShareRecord(user_id, group_id, path, hashes.size, hashes.mtime_ns, meta, hashes.ctime_ns)
        # Recorded here first: a disk that cannot take the record refuses the share before the tracker lists it
        # (the other way round, the tracker listed a share this node would never serve).
        previous = self.state.shares.get(record.key)
        self._recorded_at[record.key] = time.monotonic()  # before the record shows: a listing may land meanwhile
        await self.state.put_share(record)
        try:
            if self.service.login_generation != generation:
                raise NotLoggedIn("logged out while the share was being recorded; nothing was shared")
            await self.service.authed("POST", path_of("groups", group_id, "files"), dict(meta.to_json()),
                                      write=True)
        except BaseException:
            with contextlib.suppress(StateNotSaved):
                if self.state.shares.get(record.key) is record:  # undo only what is still this call's
                    if previous is None:
                        await self.state.drop_share(record.key)
                    else:
                        await self.state.put_share(previous)
            raise
        if self.service.login_generation == generation:
            self._serve(record)  # else logged out during the POST: kept on record, served at the user's next login
        if previous is not None and previous.path != record.path:  # the same file, now shared from elsewhere
            await self._drop_upload_copy(previous.path)
        self.service.heartbeat.wake()
        return SharedFile(group_id, meta.file_name, path, meta.size, meta.sha256)

    async def adopt_download(self, record: ShareRecord) -> None:
        """A finished download: the node now holds the whole file; record it as a share and serve it (a seeder).
        ``register`` then tells the tracker."""
        self._recorded_at[record.key] = time.monotonic()
        try:
            await self.state.put_share(record, keep_unsaved=True)
        except StateNotSaved as exc:
            # The file is whole and in place: served all the same. A restart finds it again by its download
            # (``download_records.found_whole``), and the next share saved writes this one down too.
            log.warning("sharing the downloaded %s, but not recorded on disk: %s", record.path, exc.message)
        sha = record.meta.sha256
        store = self.service.catalog.get(sha)
        older = self._stores.get(sha)
        if store is not None and store.is_complete and older is not store:
            # The download's store serves from now on; one kept for the same content elsewhere (this file shared
            # from another path before) would otherwise stay open, unreachable, until the node stops.
            self._stores[sha] = store
            if older is not None:
                older.close()
        session = self.state.session
        if session is not None and session.user_id == record.user_id:
            self._serve(record)

    async def register(self, record: ShareRecord) -> None:
        await self.service.authed("POST", path_of("groups", record.group_id, "files"), record.meta.to_json(),
                                   write=True)

    # --- serving
    def serves(self, user_id: str, group_id: str, sha256: str) -> bool:
        """Whether a share of the user serves that file in that group now (the piece server's check)."""
        return (group_id, sha256) in self.served(user_id)

    def served(self, user_id: str) -> list[tuple[str, str]]:
        """(group_id, sha256) of every share being served now: the heartbeat's complete holdings."""
        out = []
        for key in self._serving:
            rec = self.state.shares.get(key)
            if rec is not None and rec.user_id == user_id and rec.meta.sha256 in self._stores:
                out.append((rec.group_id, rec.meta.sha256))
        return out

    def _serve(self, record: ShareRecord) -> bool:
        sha = record.meta.sha256
        store = self._stores.get(sha)
        if store is None or store.closed:
            try:
                store = PieceStore.open_complete(Path(record.path), record.meta)
            except (GroupShareError, OSError) as exc:
                log.warning("cannot serve %s: %s", record.path, exc)
                return False
            self._stores[sha] = store
        if self.service.catalog.get(sha) is not store:
            self.service.catalog.register(store)
        self._serving.add(record.key)
        if self.absent.clear(record.key):
            log.warning("share %s/%s: the file %s is back; serving it again", record.group_id, record.file_name,
                        record.path)
        return True

    def serve_user(self, user_id: str) -> None:
        """Serve the user's shares whose file is unchanged; re-check the others in the background."""
        for rec in list(self.state.shares.values()):
            if rec.user_id != user_id:
                continue
            if _unchanged(rec) and self._serve(rec):
                if rec.ctime_ns is None:
                    self._track(self._note_ctime(rec), f"note the ctime of {rec.path}")
                continue
            self._start_recheck(rec)
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._watch_files(), name="watch shared files")

    def _start_recheck(self, rec: ShareRecord) -> None:
        if rec.key in self._rechecking:
            return
        self._rechecking.add(rec.key)
        task = self._track(self._recheck(rec), f"recheck {rec.path}")
        task.add_done_callback(lambda _t: self._rechecking.discard(rec.key))

    def _track(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)
        return task

    async def _note_ctime(self, rec: ShareRecord) -> None:
        """A share recorded before ctimes were kept, found unchanged by size and mtime: its ctime from now on, so
        that a later rewrite putting them back is seen."""
        try:
            st = await asyncio.to_thread(os.stat, rec.path)
        except OSError:
            return  # gone meanwhile: the next look finds it so
        async with self.locks.hold(rec.key):
            if self.state.shares.get(rec.key) is not rec or st.st_size != rec.size or st.st_mtime_ns != rec.mtime_ns:
                return
            if rec.key not in self._serving or rec.key in self._rechecking:
                return  # seen changed meanwhile: its re-hash records the ctime (a new record here would void it)
            with contextlib.suppress(StateNotSaved):  # kept in memory; written with the next share saved
                await self.state.put_share(dataclasses.replace(rec, ctime_ns=st.st_ctime_ns), keep_unsaved=True)

    async def _watch_files(self) -> None:
        while True:
            await asyncio.sleep(self.service.config.share_check_s)
            await self._look_at_served()
            await self._look_at_absent()

    async def _look_at_served(self) -> None:
        served = [rec for key in list(self._serving) if (rec := self.state.shares.get(key)) is not None]
        if not served:
            return
        # In a thread: a stat on a slow or network file system must not hold up the loop.
        unchanged = await asyncio.to_thread(_all_unchanged, served)
        for rec, same in zip(served, unchanged, strict=True):
            if not same and rec.key in self._serving and self.state.shares.get(rec.key) is rec:
                self._stop_serving_changed(rec)

    async def _look_at_absent(self) -> None:
        """Read again each unavailable share whose path looks different now (back, replaced, permission given)."""
        watched = self.absent.watched({key: rec.path for key, rec in self.state.shares.items()})
        if not watched:
            return
        now = await asyncio.to_thread(lambda: [signature(path) for _key, path, _seen in watched])
        session = self.state.session
        for key in changed_since(watched, now):
            rec = self.state.shares.get(key)
            if rec is not None and session is not None and session.user_id == rec.user_id:
                self._start_recheck(rec)

    def _stop_serving_changed(self, rec: ShareRecord) -> None:
        """The file under a served share changed: stop serving it now and re-hash it (it may only have been
        touched)."""
        log.warning("share %s/%s: the file %s changed on disk; not serving it until it is checked again",
                    rec.group_id, rec.file_name, rec.path)
        self._serving.discard(rec.key)
        self._release(rec.meta.sha256)
        self.service.heartbeat.wake()
        self._start_recheck(rec)

    async def _recheck(self, rec: ShareRecord) -> None:
        # The path's look before reading it: a file back while this read failed still looks different after.
        seen = await asyncio.to_thread(signature, rec.path)
        try:
            hashes = await hash_in_thread(rec.path, rec.meta.piece_size)
        except GroupShareError as exc:  # gone, unreadable, or changing while read: kept until it looks different
            why = absence_words(exc.message, rec.path, gone=isinstance(exc, NotFound))
            if self.state.shares.get(rec.key) is rec and self.absent.mark(rec.key, why, seen):
                log.warning("share %s/%s: the file %s %s; not serving it until it is back", rec.group_id,
                            rec.file_name, rec.path, why)
            return
        # Stopped, ended or shared anew while it was hashed (a big file takes minutes): that stands, not this check.
        async with self.locks.hold(rec.key):
            if self.state.shares.get(rec.key) is not rec:
                return
            if hashes.sha256 == rec.meta.sha256 and hashes.piece_hashes == rec.meta.piece_hashes:
                await self._serve_checked(rec, hashes)
            else:
                await self._drop_changed(rec)

    async def _serve_checked(self, rec: ShareRecord, hashes: FileHashes) -> None:
        fresh = ShareRecord(rec.user_id, rec.group_id, rec.path, hashes.size, hashes.mtime_ns, rec.meta,
                            hashes.ctime_ns)
        await self.state.put_share(fresh)
        session = self.state.session
        if session is not None and session.user_id == rec.user_id:
            self._serve(fresh)
            self.service.heartbeat.wake()

    async def _drop_changed(self, rec: ShareRecord) -> None:
        log.warning("share %s/%s: the file %s no longer matches what was shared; dropping it", rec.group_id,
                    rec.file_name, rec.path)
        await self.forget(rec.user_id, rec.group_id, rec.file_name)
        try:
            await self.service.authed("DELETE", path_of("groups", rec.group_id, "files", rec.file_name, "share"),
                                       {}, write=True)
        except GroupShareError as exc:  # the tracker keeps the share on record, but no heartbeat names it now
            log.warning("share %s/%s: the tracker was not told it ended (%s); it lists the file without this node "
                        "as a seeder from the next heartbeat", rec.group_id, rec.file_name, exc.message)

    async def wait_checks(self) -> None:
        if self._checks:
            await asyncio.gather(*list(self._checks), return_exceptions=True)

    # --- ending shares
    async def forget(self, user_id: str, group_id: str, file_name: str) -> None:
        key = (user_id, group_id, file_name)
        rec = self.state.shares.get(key)
        self._serving.discard(key)
        self.absent.clear(key)
        self._recorded_at.pop(key, None)
        await self.state.drop_share(key)
        if rec is not None:
            self._release(rec.meta.sha256)
            await self._drop_upload_copy(rec.path)

    async def _drop_upload_copy(self, path: str) -> None:
        """A browser upload's copy that no share uses any more goes (``upload_copies``)."""
        in_use = [s.path for s in self.state.shares.values()]
        await asyncio.to_thread(delete_if_unused, path, self.service.config.data_dir, in_use)

    async def forget_group(self, user_id: str, group_id: str) -> None:
        for rec in [r for r in self.state.shares.values() if r.user_id == user_id and r.group_id == group_id]:
            await self.forget(user_id, group_id, rec.file_name)

    async def end_outside(self, user_id: str, not_member_of: set[str], asked_at: float) -> int:
        """End the user's shares in groups a tracker answer asked at ``asked_at`` (monotonic) says they are not a
        member of: they left (or the group was deleted) from another node while this one was logged out or
        stopped, and the contract ends a leaver's shares. A share recorded after the question is left alone (the
        answer may predate its admission). Returns how many ended."""
        ended = 0
        for rec in [r for r in self.state.shares.values() if r.user_id == user_id and r.group_id in not_member_of]:
            if self._recorded_at.get(rec.key, -math.inf) >= asked_at or self.locks.busy(rec.key):
                continue  # newer than the answer, or a command (a share, a stop) is on it now: its outcome stands
            log.warning("share %s/%s ended: %s is no longer a member of %s (left from another node, or the group "
                        "was deleted)", rec.group_id, rec.file_name, user_id, rec.group_id)
            with contextlib.suppress(StateNotSaved):
                await self.forget(user_id, rec.group_id, rec.file_name)
                ended += 1
        return ended

    def _release(self, sha: str) -> None:
        """Close the store of ``sha`` once no served share uses it."""
        if any(self.state.shares[k].meta.sha256 == sha for k in self._serving if k in self.state.shares):
            return
        store = self._stores.pop(sha, None)
        if store is None:
            return
        if self.service.catalog.get(sha) is store:
            self.service.catalog.unregister(sha)
        store.close()

    async def stop_serving(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        for task in list(self._checks):
            task.cancel()
        await self.wait_checks()
        self._serving.clear()
        self.absent.clear_all()  # looked at again at the next login
        for sha in list(self._stores):
            self._release(sha)

    def is_serving(self, rec: ShareRecord) -> bool:
        return rec.key in self._serving



def _unchanged(rec: ShareRecord) -> bool:
    """The share's file still has the size, mtime and ctime it had when hashed (a chmod or a rename moves the
    ctime too: one needless re-hash, against serving bytes that were rewritten with their mtime put back)."""
    try:
        st = os.stat(rec.path)
    except OSError:
        return False
    return (st.st_size == rec.size and st.st_mtime_ns == rec.mtime_ns
            and (rec.ctime_ns is None or st.st_ctime_ns == rec.ctime_ns))


def _all_unchanged(recs: list[ShareRecord]) -> list[bool]:
    return [_unchanged(rec) for rec in recs]
