"""The clean-up, once at start, of pieces-state files no unfinished download owns any more.

A download keeps its verified bitfield in ``<data-dir>/partial/<hash>.json`` (``destinations.pieces_state_path``)
until it finishes or is removed. A finished download whose state file could not be deleted (its folder made
read-only meanwhile) is complete all the same (``PieceStore.finish`` only logs it), and a node killed as it was
removed leaves one too: nothing would ever delete them, one per file ever downloaded. So at the first
``resume_all`` (at start, or at the first login), before any download of this run opens its state, each file whose
name no unfinished record (``D``, ``F``, ``P``) owns goes. Only names of the form the node itself writes
(``<32 hex>.json`` and its ``.tmp``) and only plain files: anything else a user put there stays.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from peer_node.destinations import PIECES_STATE_DIR, pieces_state_name
from peer_node.state import DownloadRecord
from peer_node.views import DownloadState

log = logging.getLogger(__name__)

_OURS = re.compile(r"([0-9a-f]{32}\.json)(\.tmp)?")


def sweep_pieces_states(data_dir: Path, records: Iterable[DownloadRecord]) -> int:
    """Delete the pieces-state files that no unfinished download of ``records`` owns; how many went. Call it
    while no download runs: a download started meanwhile could lose its state before its record is seen."""
    owned = {pieces_state_name(rec.key) for rec in records if rec.state != DownloadState.COMPLETE.value}
    swept = 0
    try:
        entries = list(os.scandir(data_dir / PIECES_STATE_DIR))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    except OSError as exc:
        log.warning("could not look for stale download states: %s", exc)
        return 0
    for entry in entries:
        match = _OURS.fullmatch(entry.name)
        if match is None or match.group(1) in owned:
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                swept += 1
        except FileNotFoundError:
            continue
        except OSError as exc:  # still read-only, say: another start tries again
            log.warning("could not delete the stale download state %s: %s", entry.path, exc)
    if swept:
        log.info("deleted %d download state file(s) that no unfinished download owns", swept)
    return swept
