"""Whether a running download's partial file is still what, and where, the download left it.

Each tick looks with one ``fstat`` (no path lookup, so nothing a slow file system can hold up): the file deleted, or
cut short, by another program. Every ``PATH_LOOK_S`` it also looks the path up: a folder renamed or moved away
while the download ran kept the file alive under another name, and the download went on filling it for minutes
or hours, only to fail as it tried to give the file its final name (``file_ops.move_into_place``). Seen within
seconds now, with the same words, which say where the verified data is now.
"""

from __future__ import annotations

from peer_node.swarm.errors import PartialFileGone
from peer_node.swarm.file_ops import FolderChanged
from peer_node.swarm.store import PieceStore

PATH_LOOK_S = 5.0


class PartialWatch:
    def __init__(self, store: PieceStore, path_every: float | None = None) -> None:
        self.store = store
        self.path_every = PATH_LOOK_S if path_every is None else path_every
        self._next_path_look = 0.0

    def trouble(self, now: float) -> PartialFileGone | None:
        """What went wrong with the partial file, if anything shows; ``now``: monotonic seconds."""
        change = self.store.changed_under_us()
        if change is not None:
            why = ("was deleted during the download (or its folder was)" if change == "deleted" else
                   "was cut short during the download (by another program?), so the pieces in it cannot be "
                   "trusted")
            return PartialFileGone(f"the partial file {self.store.path} {why}; download it again to start afresh")
        if now < self._next_path_look:
            return None
        self._next_path_look = now + self.path_every
        moved = self.store.moved_away()
        return None if moved is None else FolderChanged(moved)
