"""The failure policy of a download: its [F] reason and whether its verified pieces stay (pure, no I/O)."""

from __future__ import annotations

import errno

from peer_node.download_failures import KEPT_NOTE, failure_of
from peer_node.state import DownloadRecord
from peer_node.swarm.errors import CorruptSources
from peer_node.views import DownloadState
from wire.errors import NotFound, Unavailable

REC = DownloadRecord("alice", "lab", "f.bin", "/dl/f.bin", DownloadState.RUNNING.value, None)


def test_nobody_to_give_the_rest_keeps_the_pieces_and_waits_for_a_member() -> None:
    failure = failure_of(REC, Unavailable("no seeder reachable"), {"bob": 300}, 4096, bytes([0xA0]))
    assert failure.keep and failure.record.resume_when_seeded and failure.record.bytes_kept == 4096
    assert failure.record.kept_bits == "a0"  # its row's map shows the pieces it keeps
    assert failure.reason == "no seeder reachable; resumes by itself when a member who has it is back"
    assert failure.record.bytes_by_peer == {"bob": 300}


def test_a_disk_error_keeps_the_verified_pieces_for_a_retry_and_names_the_path() -> None:
    failure = failure_of(REC, OSError(errno.EROFS, "Read-only file system", "/dl/.f.bin.gspart"), None, 8192)
    assert failure.keep and not failure.record.resume_when_seeded and failure.record.bytes_kept == 8192
    assert failure.reason == f"disk error: Read-only file system (/dl/.f.bin.gspart); {KEPT_NOTE}"


def test_a_disk_error_before_any_piece_says_nothing_of_kept_pieces() -> None:
    failure = failure_of(REC, OSError(errno.ENOSPC, "No space left on device"), None, None)
    assert failure.reason == "disk error: No space left on device" and failure.record.bytes_kept == 0


def test_any_other_failure_starts_over() -> None:
    resumed = REC.with_(bytes_kept=2048, kept_bits="ff")  # resumed from kept pieces: gone now, and not shown kept
    failure = failure_of(resumed, NotFound("the file f.bin in lab is now another file"), {"bob": 1}, 4096,
                         bytes([0xFF]))
    assert not failure.keep and failure.record.bytes_kept == 0 and not failure.record.resume_when_seeded
    assert failure.record.kept_bits == ""
    assert failure.reason == "the file f.bin in lab is now another file"


def test_damaged_pieces_from_everyone_keep_ours_but_never_resume_by_themselves() -> None:
    # Waiting for a member "who has it" would fetch the same bad bytes from the same copy, again and again.
    failure = failure_of(REC, CorruptSources("every member who has the rest sent damaged pieces"), {"bob": 9}, 4096)
    assert failure.keep and not failure.record.resume_when_seeded and failure.record.bytes_kept == 4096
    assert failure.reason == f"every member who has the rest sent damaged pieces; {KEPT_NOTE}"
