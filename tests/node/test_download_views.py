"""``download_views``: how a download looks from its record when no task runs (paused, failed, resuming), and
whether a removed one is still shared."""

from __future__ import annotations

import hashlib

from peer_node.download_views import download_view, still_shared
from peer_node.state import DownloadRecord
from peer_node.views import DownloadState, SharedFile
from wire.errors import NotLoggedIn
from wire.records import FileMeta

META = FileMeta("f.bin", 10 * 16384, 16384, hashlib.sha256(b"x").hexdigest(), tuple(bytes(32) for _ in range(10)))


def _rec(state: DownloadState, **kw: object) -> DownloadRecord:
    return DownloadRecord("alice", "lab", "f.bin", "/dl/f.bin", state.value, META, **kw)  # type: ignore[arg-type]


def test_a_paused_or_failed_download_shows_what_it_keeps_in_its_bar_and_its_map() -> None:
    for state in (DownloadState.PAUSED, DownloadState.FAILED):
        view = download_view(_rec(state, bytes_kept=3 * 16384, kept_bits="e000"), None, None, "")
        assert view.state is state and view.bytes_done == 3 * 16384 and view.percent == 30
        assert view.piece_states == "ddd......."  # its map is not all grey
    assert download_view(_rec(DownloadState.FAILED), None, None, "").piece_states == ""  # kept nothing: no map


def test_a_download_resuming_shows_what_it_kept_until_its_partial_file_is_open_again() -> None:
    view = download_view(_rec(DownloadState.RUNNING, bytes_kept=5 * 16384), None, None, "")
    assert view.percent == 50  # not 0% for the moment it takes to open the file


def test_a_removed_download_counts_as_not_shared_once_its_user_logged_out_meanwhile() -> None:
    view = download_view(_rec(DownloadState.COMPLETE), None, None, "")

    def logged_out() -> list[SharedFile]:
        raise NotLoggedIn("not logged in")

    assert still_shared(logged_out, view) is False  # not an error after the removal was done
    assert still_shared(lambda: [SharedFile(view.group_id, view.file_name, "/x", 1, "ab")], view) is True
