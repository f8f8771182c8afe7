"""The bookkeeping of shares whose file is gone or unreadable (``share_absence``): said once, looked at again
only when the path looks different."""

from __future__ import annotations

import os
from pathlib import Path

from peer_node.share_absence import Absences, absence_words, changed_since, signature

KEY = ("alice", "g1", "f.bin")


def test_an_absence_is_news_once_per_reason_and_keeps_when_it_began() -> None:
    absent = Absences()
    assert absent.mark(KEY, "is gone (moved or deleted)", None)
    first = absent.get(KEY)
    assert not absent.mark(KEY, "is gone (moved or deleted)", None)  # looked at again: nothing new to say
    assert absent.mark(KEY, "cannot be read (Permission denied)", None)  # back, but unreadable: news
    now = absent.get(KEY)
    assert first is not None and now is not None and now.since == first.since
    assert absent.clear(KEY) and not absent.clear(KEY)
    assert absent.get(KEY) is None


def test_only_the_shares_whose_path_looks_different_are_read_again(tmp_path: Path) -> None:
    here, gone = tmp_path / "here.bin", tmp_path / "gone.bin"
    here.write_bytes(b"x")
    absent = Absences()
    other = ("alice", "g1", "here.bin")
    absent.mark(KEY, "is gone (moved or deleted)", signature(str(gone)))
    absent.mark(other, "cannot be read (Permission denied)", signature(str(here)))
    absent.mark(("bob", "g2", "old.bin"), "is gone (moved or deleted)", None)  # its share ended meanwhile
    watched = absent.watched({KEY: str(gone), other: str(here)})
    assert [key for key, _path, _seen in watched] == [KEY, other]
    assert changed_since(watched, [signature(p) for _k, p, _s in watched]) == []
    gone.write_bytes(b"back")
    os.chmod(here, 0o400)  # a permission changed: its ctime moves
    assert changed_since(watched, [signature(p) for _k, p, _s in watched]) == [KEY, other]


def test_the_words_name_what_is_wrong_without_the_path_again() -> None:
    path = "/media/usb/f.bin"
    assert absence_words("no such file: /media/usb/f.bin", path, gone=True) == "is gone (moved or deleted)"
    assert absence_words(f"cannot read {path}: Permission denied", path, gone=False) == \
        "cannot be read (Permission denied)"
    assert absence_words(f"{path} changed while it was being hashed", path, gone=False) == \
        "changed while it was being hashed"
    assert absence_words("disk on fire", path, gone=False) == "cannot be checked (disk on fire)"
