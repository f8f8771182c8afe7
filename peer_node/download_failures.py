"""How a download that failed is recorded: its ``[F]`` reason, and whether its verified pieces stay on disk.

Pure policy, no I/O (the download manager acts on the answer):
- nobody could give us the rest for now (``Unavailable``): the pieces are kept, so a retry of the same download
  resumes where it stopped, and ``auto_resume`` watches for a member who has the file;
- the disk or its folder refused (an ``OSError``: full, read-only, gone): the pieces are kept too (each was
  verified before it counted), for a Retry once the folder is fixed; nothing resumes by itself;
- every member who had the rest sent damaged pieces (``CorruptSources``): the pieces are kept, but nothing
  resumes by itself (it would fetch the same bad bytes, again and again): Retry once they share it again;
- anything else (the file changed, access ended): the download starts over, so nothing is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from peer_node.auto_resume import RESUMES_NOTE
from peer_node.state import DownloadRecord
from peer_node.swarm.errors import CorruptSources
from peer_node.swarm.reasons import disk_error_words
from wire.errors import GroupShareError, Unavailable

KEPT_NOTE = "the verified pieces are kept: Retry resumes from them"


@dataclass(frozen=True)
class Failure:
    record: DownloadRecord  # still as it ran: the manager marks it F with ``reason``
    reason: str
    keep: bool  # leave the partial file and its pieces state on disk


def failure_of(rec: DownloadRecord, exc: GroupShareError | OSError, bytes_by_peer: Mapping[str, int] | None,
               bytes_verified: int | None, bitfield: bytes | None = None) -> Failure:
    """``bytes_by_peer``: what each peer gave (None: the engine never ran); ``bytes_verified`` and ``bitfield``:
    what the partial file holds (None: it was never opened)."""
    if bytes_by_peer is not None:
        rec = rec.with_(bytes_by_peer=dict(bytes_by_peer))
    rec = rec.with_(kept_bits=bitfield.hex() if bitfield is not None else "")  # its map, if the pieces stay
    if isinstance(exc, OSError):
        kept = bytes_verified or 0
        reason = disk_error_words(exc) + (f"; {KEPT_NOTE}" if kept else "")
        return Failure(rec.with_(bytes_kept=kept), reason, keep=True)
    if isinstance(exc, CorruptSources):
        kept = bytes_verified or 0
        return Failure(rec.with_(bytes_kept=kept), exc.message + (f"; {KEPT_NOTE}" if kept else ""), keep=True)
    if isinstance(exc, Unavailable):
        if bytes_verified is not None:
            rec = rec.with_(bytes_kept=bytes_verified)
        return Failure(rec.with_(resume_when_seeded=True), f"{exc.message}; {RESUMES_NOTE}", keep=True)
    return Failure(rec.with_(bytes_kept=0, kept_bits=""), exc.message, keep=False)
