"""The download manager: one background task per download, driving the swarm's DownloadEngine.

Theory of operation: ``start`` checks everything that can be refused at once (login, destination rules, a second
download of the same file, membership and the file's existence via the tracker's metadata answer), records the
download as ``D`` in the node's state and returns. The task opens a partial PieceStore beside the destination,
registers it in the ServedFiles catalog at once (every verified piece is served while the download goes on, and the
heartbeat reports its bitfield), runs the engine, then ``finish`` checks that the verified pieces make the listed
file (their SHA-256 chain ends in its digest: no second read) and renames it into place. A complete download is
registered with the tracker as a share, so this node becomes a seeder of it. A failure is ``F`` with a one-line
reason; when it only means that nobody could give us the rest (no seeder reachable) or that the disk refused, the
verified pieces stay on disk and ``download_file`` of the same file to the same place (or Retry in the browser)
resumes from them (``download_failures``). Logout and shutdown cancel the tasks but leave the records in ``D``: the
next login (or start, when still logged in) resumes them from the verified pieces on disk; a download already
finishing (moved into place) is let finish first. Pause, resume, remove, and ending the downloads of a group left
are ``download_controls``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peer_node.auto_resume import FIRST_S, AutoResume
from peer_node.destinations import open_partial_beside, pieces_state_path, remove_partial
from peer_node.download_controls import DownloadControls
from peer_node.download_failures import failure_of
from peer_node.download_records import finished_before, found_whole, keep_given, mark_complete, with_meta
from peer_node.download_refusals import Key, refuse_if_running, refuse_to_start
from peer_node.download_views import debug_row, download_view, given_so_far
from peer_node.keyed_locks import KeyedLocks
from peer_node.partial_sweep import sweep_pieces_states
from peer_node.piece_sources import summarize
from peer_node.state import DownloadRecord, NodeState, ShareRecord, StateNotSaved
from peer_node.swarm.catalog import ServedFiles
from peer_node.swarm.local_copy import copy_from_local
from peer_node.swarm.store import PieceStore
from peer_node.tracker_client import TrackerClient, path_of
from peer_node.tracker_docs import swarm_of
from peer_node.views import DownloadState, DownloadView
from wire.errors import Conflict, GroupShareError, NotFound
from wire.names import check_file_name, check_id
from wire.records import FileMeta

if TYPE_CHECKING:
    from peer_node.swarm.download_limit import DownloadLimit
    from peer_node.swarm.engine import DownloadEngine, SwarmSnapshot
    from peer_node.swarm.tls import NodeIdentity

log = logging.getLogger(__name__)

PIECE_REPORT_S = 1.0


class DownloadManager(DownloadControls):
    def __init__(self, state: NodeState, tracker: TrackerClient, catalog: ServedFiles, *,
                 no_peer_timeout: float, on_complete: Callable[[ShareRecord], Awaitable[None]],
                 register: Callable[[ShareRecord], Awaitable[None]] | None = None,
                 on_change: Callable[[], None], tls: NodeIdentity | None = None,
                 resume_check_s: float = FIRST_S, download_limit: DownloadLimit | None = None) -> None:
        self.state = state
        self.download_limit = download_limit  # the node's, shared by every engine (swarm.download_limit)
        self.tls = tls  # the node's identity: every engine speaks TLS with it (None: plain TCP, --no-tls)
        self.tracker = tracker
        self.catalog = catalog
        self.no_peer_timeout = no_peer_timeout
        self._on_complete = on_complete  # records and serves the finished file as a share, locally
        self._register = register  # then tells the tracker of the new share
        self._on_change = on_change  # wakes the heartbeat: our holdings changed
        self._tasks: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._engines: dict[tuple[str, str, str], DownloadEngine] = {}
        self._stores: dict[tuple[str, str, str], PieceStore] = {}
        self._finishing: set[tuple[str, str, str]] = set()  # checked against the listed digest, moved into place
        self._discarding: set[tuple[str, str, str]] = set()  # being cancelled by ``remove``: delete its data
        self._copying: dict[tuple[str, str, str], str] = {}  # filled from a local complete copy: its path
        self._checking: dict[tuple[str, str, str], list[int]] = {}  # its whole file found in place: bytes hashed
        # Downloads being started (``start`` yields while it checks): refused a second time, and their targets
        # taken, until their task runs.
        self._starting: dict[Key, Path | None] = {}
        self._locks = KeyedLocks()  # per download: start and remove of one download never interleave
        self._generation = 0  # moves at every stop_all (a logout): see ``_start``
        self._resumed_for: str | None = None  # the user whose downloads run now (resume_all), None after stop_all
        self._swept = False  # stale pieces states deleted, at the first resume_all (``partial_sweep``)
        self._last_report = 0.0
        self.auto_resume = AutoResume(self, resume_check_s)

    # --- commands
    async def start(self, user_id: str, group_id: str, file_name: str, destination: str, *,
                    resuming: DownloadRecord | None = None) -> DownloadView:
        """``resuming``: the failed record auto_resume starts again; NotFound if it changed meanwhile."""
        check_id(group_id, "group id")
        check_file_name(file_name)
        key = (user_id, group_id, file_name)
        if key in self._starting:  # two requests at once (a double click): the first one starts it
            raise Conflict(f"the file {file_name} of {group_id} is already downloading")
        self._starting[key] = None  # held from here to the task's start: every step below may yield
        try:
            async with self._locks.hold(key):
                return await self._start(key, destination, resuming, self._generation)
        finally:
            del self._starting[key]

    async def _start(self, key: Key, destination: str, resuming: DownloadRecord | None,
                     generation: int) -> DownloadView:
        user_id, group_id, file_name = key
        downloads = self.state.downloads
        target = await refuse_to_start(key, destination, resuming, self._tasks, downloads, self._starting)
        self._starting[key] = target
        meta, _ = await self.fetch_swarm(group_id, file_name)
        await refuse_if_running(key, self._tasks, downloads)  # resumed by a login meanwhile
        if resuming is not None and downloads.get(key) is not resuming:  # removed or retried meanwhile
            raise NotFound(f"the download of {file_name} from {group_id} changed meanwhile")
        earlier = self.state.downloads.get(key)
        if earlier is not None and earlier.destination != str(target):
            # The verified-pieces state belongs to the earlier partial file: a download elsewhere starts afresh.
            await asyncio.to_thread(self._remove_partial, earlier)
        # Resuming where an earlier run stopped (same place): what its members gave still counts, and what it
        # kept shows until the partial file is open again.
        before = earlier if earlier is not None and earlier.destination == str(target) else None
        record = DownloadRecord(user_id, group_id, file_name, str(target), DownloadState.RUNNING.value, meta,
                                started_at=time.time(), bytes_by_peer=dict(before.bytes_by_peer) if before else {},
                                bytes_kept=before.bytes_kept if before else 0)
        await self.state.put_download(record)
        if self._generation != generation and self._resumed_for != user_id:
            # logged out meanwhile: the next login of this user starts it (logged out and in again: that login's
            # resume_all has passed by, so it starts here)
            log.info("download %s/%s recorded as the user logged out: it starts at their next login", group_id,
                     file_name)
            return self.view(record)
        if key not in self.running_keys():  # a login's resume_all may have started it while it was recorded
            self._spawn(record)
        return self.view(record)

    def resume_all(self, user_id: str) -> None:
        """Start again every unfinished download of this user (after a start-up or a login), and watch the ones
        that failed for want of a seeder (``auto_resume``)."""
        self._resumed_for = user_id
        if not self._swept:  # before any download of this run opens its state: a small folder, once
            self._swept = True
            sweep_pieces_states(self.state.data_dir, self.state.downloads.values())
        for rec in list(self.state.downloads.values()):
            if rec.user_id == user_id and rec.state == DownloadState.RUNNING.value and rec.key not in self._tasks:
                self._spawn(rec)
        self.auto_resume.start(user_id)

    def running_keys(self) -> set[tuple[str, str, str]]:
        return {key for key, task in self._tasks.items() if not task.done()}

    def _cancel_unless_finishing(self, key: tuple[str, str, str], task: asyncio.Task[None]) -> bool:
        """Cancel ``task`` unless its download is already finishing (checking its pieces make the listed file, moving
        it into place, recording its share): cancelled then, it could race the rename into place, or leave a
        complete file that nothing serves (what a logout right after ``[C]`` used to do). Returns whether it
        was cancelled; the caller waits for the task either way."""
        if key in self._finishing:
            return False
        task.cancel()
        return True

    async def stop_all(self) -> None:
        """Cancel every task (logout, shutdown); their records stay ``D`` so they resume later. A download already
        finishing is let finish (``_cancel_unless_finishing``)."""
        self._generation += 1  # first: a start still asking the tracker must not spawn for whoever logs in next
        self._resumed_for = None
        await self.auto_resume.stop()
        me = asyncio.current_task()  # a download task may itself be the one logging out (a 401 at the end)
        tasks = [(key, t) for key, t in self._tasks.items() if t is not me]
        for key, task in tasks:
            self._cancel_unless_finishing(key, task)
        for _, task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- views
    def views(self, user_id: str) -> list[DownloadView]:
        recs = [r for r in self.state.downloads.values() if r.user_id == user_id]
        recs.sort(key=lambda r: r.started_at)
        return [self.view(r) for r in recs]

    def view(self, rec: DownloadRecord) -> DownloadView:
        engine = self._engines.get(rec.key)
        checked = self._checking.get(rec.key, [-1])[0]
        return download_view(rec, engine.progress() if engine is not None else None, self._stores.get(rec.key),
                             self._copying.get(rec.key, ""), checked if checked >= 0 else None)

    def downloading(self, user_id: str, group_id: str, sha256: str) -> bool:
        """Whether a running download of the user fetches that file in that group (the piece server's check)."""
        return any(key[0] == user_id and key[1] == group_id and store.meta.sha256 == sha256 and not store.closed
                   for key, store in self._stores.items())

    def holdings(self, user_id: str) -> list[tuple[str, str, bytes]]:
        """(group_id, sha256, bitfield) of every running download: partial holdings for the heartbeat."""
        out = []
        for key, store in self._stores.items():
            if key[0] == user_id and not store.closed and not store.is_complete:
                out.append((key[1], store.meta.sha256, store.bitfield()))
        return out

    # --- the tracker side
    async def fetch_swarm(self, group_id: str, file_name: str) -> tuple[FileMeta, SwarmSnapshot]:
        return swarm_of(await self.tracker.get(path_of("groups", group_id, "files", file_name)))

    async def _fetch_meta(self, group_id: str, file_name: str) -> FileMeta:
        return (await self.fetch_swarm(group_id, file_name))[0]

    # --- the task
    def _spawn(self, rec: DownloadRecord) -> None:
        task = asyncio.create_task(self._run(rec), name=f"download {rec.group_id}/{rec.file_name}")
        self._tasks[rec.key] = task
        key = rec.key

        def forget_task(_task: asyncio.Task[None]) -> None:
            if self._tasks.get(key) is _task:
                del self._tasks[key]

        task.add_done_callback(forget_task)

    async def _run(self, rec: DownloadRecord) -> None:
        key = rec.key
        try:
            rec = await with_meta(self.state, rec, self._fetch_meta)
            if await finished_before(self.state, rec):
                await asyncio.to_thread(self._remove_partial, rec)  # a stop between the move's link and unlink
                self._on_change()
                return
            # Its row shows the check going, from a cell of this run's own (a hashing thread outliving it writes unread)
            checked = self._checking[key] = [-1]
            try:
                whole = await found_whole(rec, lambda done, _size: checked.__setitem__(0, done))
            finally:
                self._checking.pop(key, None)
            if whole is not None:
                await self._adopt_found(rec, whole)
                await asyncio.to_thread(self._remove_partial, rec)
                return
            store = await self._open(rec)
            await self._copy_local(rec, store)
            engine = self._engine_for(rec, store)
            await engine.run()
            await self._complete(rec, engine, store)
        except asyncio.CancelledError:
            ran, discard, opened = self._engines.get(key), key in self._discarding, self._stores.get(key)
            kept = opened.bytes_verified if opened is not None else None
            self._forget(key, discard=discard)  # first: the partial file is sealed even if the save below fails
            if ran is not None and not discard:
                await keep_given(self.state, rec, ran.progress().bytes_by_peer, kept)
            raise
        except (GroupShareError, OSError) as exc:
            log.warning("download %s/%s failed: %s", rec.group_id, rec.file_name, exc)
            ran, opened = self._engines.get(key), self._stores.get(key)
            given = given_so_far(rec.bytes_by_peer, ran.progress().bytes_by_peer) if ran is not None else None
            failure = failure_of(rec, exc, given, opened.bytes_verified if opened is not None else None,
                                 opened.bitfield() if opened is not None else None)
            self._forget(key, discard=not failure.keep)
            await self._set_failed(failure.record, failure.reason)
        finally:
            self._finishing.discard(key)

    async def _open(self, rec: DownloadRecord) -> PieceStore:
        """Open the partial file beside the destination, serving its verified pieces at once."""
        meta = rec.meta
        assert meta is not None
        pieces = pieces_state_path(self.state.data_dir, rec.key)
        store = await asyncio.to_thread(open_partial_beside, Path(rec.destination), pieces, meta)
        self._stores[rec.key] = store
        serving = self.catalog.get(meta.sha256)
        if serving is None or not serving.is_complete:  # never hide a complete copy behind a partial one
            self.catalog.register(store)
        self._on_change()
        return store

    async def _copy_local(self, rec: DownloadRecord, store: PieceStore) -> None:
        """Take what we can from a complete copy of the same file that this node serves (see ``local_copy``)."""
        local = self.catalog.get(store.meta.sha256)
        if local is None or local is store or not local.is_complete or store.is_complete:
            return
        self._copying[rec.key] = str(local.path)
        try:
            copied = await copy_from_local(local, store, self._piece_done)
        finally:
            del self._copying[rec.key]
        log.info("download %s/%s: %d of %d pieces copied from %s", rec.group_id, rec.file_name, copied,
                 store.meta.piece_count, local.path)

    def _engine_for(self, rec: DownloadRecord, store: PieceStore) -> DownloadEngine:
        meta = store.meta

        async def source() -> SwarmSnapshot:
            now_meta, snap = await self.fetch_swarm(rec.group_id, rec.file_name)
            if now_meta.sha256 != meta.sha256:  # shared again under the same name with other content
                raise NotFound(f"the file {rec.file_name} in {rec.group_id} is now another file")
            return snap

        from peer_node.swarm.engine import DownloadEngine, EngineConfig

        config = EngineConfig(no_peer_timeout=self.no_peer_timeout)
        engine = DownloadEngine(meta, store, source, on_piece=self._piece_done, config=config, tls=self.tls,
                                download_limit=self.download_limit)
        self._engines[rec.key] = engine
        return engine

    async def _complete(self, rec: DownloadRecord, engine: DownloadEngine, store: PieceStore) -> None:
        """Finish the file (``store.finish``: its pieces make the listed file), move it into place, record ``C`` and
        register the file as our share."""
        meta = store.meta
        progress = engine.progress()
        by_peer = given_so_far(rec.bytes_by_peer, progress.bytes_by_peer)
        self._finishing.add(rec.key)
        final = await store.finish(Path(rec.destination))
        log.info("downloaded %s/%s: %d bytes from %d peers in %d requests; %d pieces failed their hash",
                 rec.group_id, rec.file_name, meta.size, len(by_peer), engine.requests_sent, engine.hash_failures)
        st = await asyncio.to_thread(os.stat, final)
        share = ShareRecord(rec.user_id, rec.group_id, str(final), meta.size, st.st_mtime_ns, meta,
                            st.st_ctime_ns)
        self._engines.pop(rec.key, None)
        self._stores.pop(rec.key, None)
        # The finished copy serves from now on, even where another complete copy of the same file did (it was not
        # registered over that one while partial): the share keeper takes this store and closes the other.
        self.catalog.register(store)
        # ``C`` shows at once, but on disk the share goes first: a node stopped in between finds the share at its
        # next start (``download_records.finished_before``); the other order would leave a complete download
        # that nothing serves.
        # (The first fsync after a big download can wait a second or more for the disk's journal: it must not
        # hold ``[C]`` back.)
        done = rec.with_(state=DownloadState.COMPLETE.value, finished_at=time.time(), bytes_by_peer=by_peer,
                         reason="", map_sources=summarize(progress.piece_sources, meta.piece_count))
        self.state.downloads[done.key] = done
        await self._on_complete(share)
        try:
            await self.state.save_downloads()
        except StateNotSaved as exc:  # done all the same: the file is whole and in place (a restart finds it)
            log.warning("downloaded %s/%s, but not recorded on disk: %s", rec.group_id, rec.file_name, exc.message)
        self._on_change()
        await self._register_share(share)  # after ``C``: an unreachable tracker must not hold the download at 99%

    async def _adopt_found(self, rec: DownloadRecord, share: ShareRecord) -> None:
        """The listed file, whole at the destination, though neither ``C`` nor its share reached the disk (the
        data dir was full when it finished): done, shared, and told to the tracker, as ``_complete`` does."""
        log.info("download %s/%s: the file at %s is the listed one: done", rec.group_id, rec.file_name, share.path)
        await self._on_complete(share)
        await mark_complete(self.state, rec)
        self._on_change()
        await self._register_share(share)

    async def _register_share(self, share: ShareRecord) -> None:
        """Tell the tracker this node now holds a finished download (a failure only delays it: heartbeats say it)."""
        if self._register is not None:
            try:
                await self._register(share)
            except GroupShareError as exc:
                log.warning("downloaded %s but could not register it as a share: %s", share.file_name,
                            exc.message)

    def _forget(self, key: tuple[str, str, str], *, discard: bool) -> None:
        """Drop an ended task's engine and store: stop serving its partial file, and delete it if ``discard``."""
        self._engines.pop(key, None)
        store = self._stores.pop(key, None)
        if store is None:
            return
        if self.catalog.get(store.meta.sha256) is store:
            self.catalog.unregister(store.meta.sha256)
        try:
            store.discard() if discard else store.close()
        except OSError as exc:  # the folder went read-only or away: the record must still say how it ended
            log.warning("could not %s the partial file %s: %s", "delete" if discard else "close", store.path, exc)
        self._on_change()

    def _remove_partial(self, rec: DownloadRecord) -> None:
        try:
            remove_partial(self.state.data_dir, rec.key, rec.destination)
        except OSError as exc:  # never a 500 for it: the download is removed or restarted all the same
            log.warning("could not delete what the download of %s left: %s", rec.file_name, exc)

    async def _set_failed(self, rec: DownloadRecord, reason: str) -> None:
        reason = " ".join(reason.split()) or "failed"
        failed = rec.with_(state=DownloadState.FAILED.value, reason=reason, finished_at=time.time())
        try:
            await self.state.put_download(failed)
        except StateNotSaved:  # shown failed now all the same: a [D] with no task behind it would never move
            self.state.downloads[rec.key] = failed

    def _piece_done(self, index: int) -> None:
        # Tell the tracker about new pieces soon (so later downloaders find us as a partial source), but send at
        # most one early heartbeat a PIECE_REPORT_S: the bitfield of the next beat carries all pieces since.
        del index
        now = time.monotonic()
        if now - self._last_report >= PIECE_REPORT_S:
            self._last_report = now
            self._on_change()

    def debug(self, user_id: str) -> list[dict[str, Any]]:
        return [debug_row(v) for v in self.views(user_id)]
