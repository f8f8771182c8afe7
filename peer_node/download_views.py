"""How a download looks to /cmd, the console and the browser: pure functions from its record and what its task
holds (the engine's progress while it runs, else the partial store's verified pieces) to a ``DownloadView``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from peer_node.piece_sources import expand
from peer_node.state import DownloadRecord
from peer_node.swarm.piece_mask import bitfield_mask
from peer_node.views import DownloadState, DownloadView, SharedFile
from wire.errors import NotLoggedIn

if TYPE_CHECKING:
    from peer_node.swarm.config import EngineProgress
    from peer_node.swarm.store import PieceStore


def percent(done: int, size: int, complete: bool) -> int:
    """Integer percent for ``[D]``: floor, and never 100 before the whole file is verified and in place."""
    if complete:
        return 100
    if size <= 0:
        return 0
    return min(99, done * 100 // size)


def given_so_far(earlier: Mapping[str, int], this_run: Mapping[str, int]) -> dict[str, int]:
    """What each member gave, over every run of the download: a record keeps what the runs before this one
    received (a restart or a retry resumes from those pieces), the engine counts this run's."""
    given = dict(earlier)
    for who, n in this_run.items():
        given[who] = given.get(who, 0) + n
    return given


def download_view(rec: DownloadRecord, progress: EngineProgress | None, store: PieceStore | None,
                  copying_from: str, checked: int | None = None) -> DownloadView:
    """``progress``: the running engine's, if any; ``store``: the partial file's; ``copying_from``: the local
    complete copy it is being filled from ("" when none); ``checked``: the bytes hashed so far of a whole file
    found at the destination (None when none is being checked)."""
    size = rec.meta.size if rec.meta is not None else 0
    state = DownloadState(rec.state)
    if checked is not None and state is DownloadState.RUNNING:  # as other hash checks, it says how far it got
        return DownloadView(rec.group_id, rec.file_name, rec.destination, state, size, checked,
                            percent(checked, size, False), 0.0, None, (), dict(rec.bytes_by_peer),
                            started_at=rec.started_at, checking=True)
    if progress is not None and state is DownloadState.RUNNING:
        p = progress
        eta = (p.size - p.bytes_done) / p.speed_bps if p.speed_bps > 0 else None
        return DownloadView(rec.group_id, rec.file_name, rec.destination, state, p.size, p.bytes_done,
                            percent(p.bytes_done, p.size, False), p.speed_bps, eta, tuple(p.peers),
                            given_so_far(rec.bytes_by_peer, p.bytes_by_peer), "", p.piece_states, rec.started_at, None,
                            piece_sources=p.piece_sources)
    if state is DownloadState.COMPLETE:
        done = size
    elif store is not None:
        done = store.bytes_verified
    else:  # failed or paused: what it kept to resume from (0 when it kept nothing); resuming: that, until open
        done = rec.bytes_kept
    pieces = ""
    sources: dict[int, str] = {}
    if rec.meta is not None and state is DownloadState.COMPLETE:
        pieces = "d" * rec.meta.piece_count
        sources = expand(rec.map_sources, rec.meta.piece_count)  # the map keeps who gave what
    elif store is not None and state is DownloadState.RUNNING:
        pieces = "".join("d" if store.has(i) else "." for i in range(store.meta.piece_count))
    elif rec.meta is not None and rec.kept_bits and state in (DownloadState.FAILED, DownloadState.PAUSED):
        kept = bitfield_mask(bytes.fromhex(rec.kept_bits))  # the pieces it keeps to resume from
        pieces = "".join("d" if kept >> i & 1 else "." for i in range(rec.meta.piece_count))
    return DownloadView(rec.group_id, rec.file_name, rec.destination, state, size, done,
                        percent(done, size, state is DownloadState.COMPLETE), 0.0, None, (),
                        dict(rec.bytes_by_peer), rec.reason, pieces, rec.started_at, rec.finished_at,
                        copying_from=copying_from if state is DownloadState.RUNNING else "", piece_sources=sources,
                        will_resume=state is DownloadState.FAILED and rec.resume_when_seeded)


def debug_row(v: DownloadView) -> dict[str, Any]:
    """One download in the node's debug document."""
    return {"group_id": v.group_id, "file_name": v.file_name, "destination": v.destination,
            "state": v.state.value, "size": v.size, "bytes_done": v.bytes_done, "percent": v.percent,
            "speed_bps": v.speed_bps, "peers": list(v.peers), "bytes_by_peer": v.bytes_by_peer,
            "reason": v.reason, "piece_states": v.piece_states}


def left_behind(d: DownloadView, shared: bool, present: bool) -> str:
    """What removing a complete download from the list leaves: its file, where it is and whether it is still shared
    ("the file stays at ... and is still shared"), or that the file is gone from there already."""
    if not present:
        return f"the file is no longer at {d.destination} (moved or deleted)"
    return f"the file stays at {d.destination} and is {'still' if shared else 'not'} shared"


def still_shared(shares: Callable[[], list[SharedFile]], d: DownloadView) -> bool:
    """Whether the node still shares a removed download's file (not after stop_share or leaving the group, nor
    once the user logged out meanwhile: nothing of theirs is served then, and the removal was done all the same)."""
    try:
        listed = shares()
    except NotLoggedIn:
        return False
    return any(s.group_id == d.group_id and s.file_name == d.file_name and s.unavailable is None for s in listed)
