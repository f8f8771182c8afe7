"""Shares whose file cannot be read now: kept, not served, and checked again once the file looks different.

A drive unplugged or unmounted, a folder renamed for a moment, a permission taken away: the node used to drop the
share (and end it at the tracker), and the user had to share the file again once it was back. A mature client
keeps such a share and says what is wrong (qBittorrent's "missing files"). So a share whose file is gone or
unreadable stays on record, is not served (no heartbeat names it, so the tracker sends nobody here; the group
lists the file as offline if nobody else holds it), and is shown as unavailable with the reason. Only a file
found with other bytes than were shared is dropped, as before: that share can never be served again.

When to look again: not by hashing on a timer (a 50 GiB file on a slow disk), but when the path's ``stat``
differs from what it was when the file was last found unavailable: a file back, replaced or given back its
permissions changes its inode, size, mtime or ctime. Pure bookkeeping; the stat itself runs in a thread
(``ShareKeeper``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

ShareKey = tuple[str, str, str]  # (user id, group id, file name), as NodeState keys shares

# What a path looks like to ``stat``: None when it is not there (or its folder cannot be searched).
Signature = tuple[int, int, int, int, int] | None


def signature(path: str) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns


@dataclass(frozen=True, slots=True)
class Absence:
    why: str  # words for the user: "is gone (moved or deleted)", "cannot be read (Permission denied)"
    since: float  # wall-clock seconds, for "since 10:42"
    seen: Signature  # the path's stat when it was found unavailable


class Absences:
    def __init__(self) -> None:
        self._absent: dict[ShareKey, Absence] = {}

    def mark(self, key: ShareKey, why: str, seen: Signature) -> bool:
        """Record ``key`` as unavailable; True when this is news (not already so, for the same reason): the
        caller says so once, not at every look."""
        before = self._absent.get(key)
        self._absent[key] = Absence(why, before.since if before is not None else time.time(), seen)
        return before is None or before.why != why

    def clear(self, key: ShareKey) -> bool:
        """The share is served again (or ended): True when it had been unavailable."""
        return self._absent.pop(key, None) is not None

    def get(self, key: ShareKey) -> Absence | None:
        return self._absent.get(key)

    def watched(self, paths: Mapping[ShareKey, str]) -> list[tuple[ShareKey, str, Signature]]:
        """(key, path, signature when found unavailable) of every unavailable share still on record (``paths``:
        every share's path): what the next look stats."""
        return [(key, paths[key], absence.seen) for key, absence in self._absent.items() if key in paths]

    def clear_all(self) -> None:
        self._absent.clear()


def absence_words(message: str, path: str, *, gone: bool) -> str:
    """What is wrong with the file, in words that follow "the file <path>" (the hashing error names the path)."""
    if gone:
        return "is gone (moved or deleted)"
    if message.startswith(f"cannot read {path}: "):
        return f"cannot be read ({message.removeprefix(f'cannot read {path}: ')})"
    if message.startswith(f"{path} "):
        return message.removeprefix(f"{path} ")
    return f"cannot be checked ({message})"


def changed_since(watched: list[tuple[ShareKey, str, Signature]], now: list[Signature]) -> list[ShareKey]:
    """The unavailable shares whose path looks different now: worth reading again."""
    return [key for (key, _path, seen), current in zip(watched, now, strict=True) if current != seen]
