"""What a resumed download's saved pieces are worth: whether its partial file is still the one they describe, and
which of them still pass their hash when the saved bits cannot be trusted as they are (``store.open_partial``)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from peer_node.swarm.piece_mask import bitfield_mask, mask_bitfield
from wire.pieces import piece_matches
from wire.records import FileMeta

log = logging.getLogger(__name__)


def left_as_it_was(temp_path: Path, size: int) -> bool:
    """Whether a resumed download's partial file is still there at the size it was made with."""
    try:
        st = os.lstat(temp_path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size


def pieces_still_there(fd: int, meta: FileMeta, bits: bytearray) -> bytearray:
    """``bits`` without the pieces whose bytes in the file no longer pass their hash."""
    mask = bitfield_mask(bits)
    claimed = mask.bit_count()
    buf = memoryview(bytearray(meta.piece_size))
    for index in range(meta.piece_count):
        if not mask >> index & 1:
            continue
        offset = index * meta.piece_size
        view = buf[:min(meta.piece_size, meta.size - offset)]
        got = 0
        while got < len(view) and (n := os.preadv(fd, [view[got:]], offset + got)) > 0:
            got += n
        if got != len(view) or not piece_matches(meta.piece_hashes, meta.piece_size, index, view):
            mask &= ~(1 << index)
    lost = claimed - mask.bit_count()
    log.log(logging.WARNING if lost else logging.INFO, "resumed download %s: %d saved pieces checked again, %d "
            "changed since they were saved (fetched again)", meta.file_name, claimed, lost)
    return bytearray(mask_bitfield(mask, meta.piece_count))
