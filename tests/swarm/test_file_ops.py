"""``move_into_place``: the finished file gets its name without replacing anything, and a failure leaves nothing
under that name (an empty file there would block every retry as "already exists")."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from peer_node.swarm.file_ops import FolderChanged, move_into_place
from wire.errors import Conflict


def _move(temp: Path, final: Path) -> None:
    """As the store calls it: with the partial file open."""
    fd = os.open(temp, os.O_RDONLY)
    try:
        move_into_place(temp, final, fd)
    finally:
        os.close(fd)


def test_the_file_takes_its_name_and_the_partial_name_goes(tmp_path: Path) -> None:
    temp, final = tmp_path / ".f.gspart", tmp_path / "f"
    temp.write_bytes(b"data")
    _move(temp, final)
    assert final.read_bytes() == b"data" and not temp.exists()


def test_an_existing_file_is_never_replaced(tmp_path: Path) -> None:
    temp, final = tmp_path / ".f.gspart", tmp_path / "f"
    temp.write_bytes(b"data")
    final.write_bytes(b"mine")
    with pytest.raises(Conflict):
        _move(temp, final)
    assert final.read_bytes() == b"mine" and temp.exists()


def test_a_partial_file_deleted_meanwhile_leaves_no_empty_file_under_the_name(tmp_path: Path) -> None:
    temp = tmp_path / ".gone.gspart"
    temp.write_bytes(b"data")
    fd = os.open(temp, os.O_RDONLY)
    temp.unlink()
    try:
        with pytest.raises(FolderChanged, match="moved or deleted"):
            move_into_place(temp, tmp_path / "gone", fd)
    finally:
        os.close(fd)
    assert list(tmp_path.iterdir()) == []


def test_without_hard_links_a_failed_move_removes_its_placeholder(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    temp, final = tmp_path / ".f.gspart", tmp_path / "f"
    temp.write_bytes(b"data")

    def refuse(*_args: object, **_kw: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    def full(*_args: object, **_kw: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", refuse)  # a filesystem without hard links (FAT, some FUSE mounts)
    monkeypatch.setattr(os, "replace", full)
    monkeypatch.setattr(shutil, "copyfileobj", full)  # the copy from the open file
    with pytest.raises(OSError, match="No space left"):
        _move(temp, final)
    assert not final.exists() and temp.read_bytes() == b"data"
