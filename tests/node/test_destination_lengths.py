"""A destination whose file or partial file would not fit the system's path limits is refused at once (400), not
accepted and then failed with "File name too long" once the download ran (``os.path.lexists`` answers False
for a path too long to look up)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import pytest

from peer_node.destinations import MAX_PATH_BYTES, resolve_destination, temp_path_for
from peer_node.downloads import DownloadManager
from peer_node.state import NodeState
from peer_node.swarm.catalog import ServedFiles
from peer_node.tracker_client import TrackerClient
from wire.errors import BadInput

LONG_NAME = "é" * 127 + "a"  # 255 bytes, the longest file name: its partial name is cut to fit (temp_path_for)


def _folder_of_length(base: Path, length: int) -> Path:
    """A real directory under ``base`` whose absolute path is exactly ``length`` bytes."""
    path = str(base)
    while len(os.fsencode(path)) < length:
        room = length - len(os.fsencode(path)) - 1
        path += "/" + "d" * min(200, room if room - 200 > 1 or room <= 200 else room - 2)
    assert len(os.fsencode(path)) == length
    os.makedirs(path)
    return Path(path)


def test_a_file_path_past_path_max_is_refused(tmp_path: Path) -> None:
    folder = _folder_of_length(tmp_path, MAX_PATH_BYTES - 100)
    with pytest.raises(BadInput, match="too long"):
        resolve_destination(f"{folder}/", LONG_NAME)
    assert os.listdir(folder) == []


def test_a_path_whose_partial_file_would_pass_path_max_is_refused(tmp_path: Path) -> None:
    # The final file would just fit; ".<name>.gspart" beside it would not, and the download could not start.
    name = "f.bin"
    folder = _folder_of_length(tmp_path, MAX_PATH_BYTES - 1 - len("/" + name) - 2)
    assert len(os.fsencode(folder / name)) < MAX_PATH_BYTES
    with pytest.raises(BadInput, match=r"\.f\.bin\.gspart is too long"):
        resolve_destination(str(folder), name)


def test_the_longest_paths_that_fit_are_accepted(tmp_path: Path) -> None:
    name = "f.bin"
    folder = _folder_of_length(tmp_path, MAX_PATH_BYTES - 1 - len("/.f.bin.gspart"))
    target = resolve_destination(str(folder), name)
    assert target == folder / name and len(os.fsencode(temp_path_for(target))) == MAX_PATH_BYTES - 1
    long_folder = _folder_of_length(tmp_path / "l", MAX_PATH_BYTES - 1 - 256)  # "/" + 255 bytes, cut alike
    assert resolve_destination(str(long_folder), LONG_NAME) == long_folder / LONG_NAME


def test_a_short_relative_path_from_a_deep_working_directory_is_measured_whole(tmp_path: Path) -> None:
    cwd = _folder_of_length(tmp_path, MAX_PATH_BYTES - 50)
    (cwd / "sub").mkdir()
    with pytest.raises(BadInput, match="too long"):
        resolve_destination("sub", LONG_NAME, cwd=str(cwd))


async def test_download_file_refuses_it_before_recording_anything(tmp_path: Path) -> None:
    state = NodeState(tmp_path / "node")
    state.load()
    mgr = DownloadManager(state, cast(TrackerClient, None), ServedFiles(), no_peer_timeout=5.0,
                          on_complete=state.put_share, on_change=lambda: None)
    folder = _folder_of_length(tmp_path, MAX_PATH_BYTES - 100)
    with pytest.raises(BadInput):
        await mgr.start("alice", "lab", LONG_NAME, f"{folder}/")  # the tracker is never asked
    assert state.downloads == {} and mgr.running_keys() == set()


def test_a_name_longer_than_the_folders_file_system_allows_is_refused(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # eCryptfs allows 143 bytes, some network file systems less: the folder's own limit, not Linux's 255, decides
    asked: list[tuple[str, str]] = []

    def pathconf(path: os.PathLike[str] | str, name: str) -> int:
        asked.append((str(path), name))
        return 143

    monkeypatch.setattr(os, "pathconf", pathconf)
    # 140 bytes fit; its partial file's name, ".<name>.gspart", does not
    with pytest.raises(BadInput, match=rf"the name \..+\.gspart is longer than the 143 bytes the file system of "
                                       rf"{tmp_path} allows"):
        resolve_destination(str(tmp_path), "a" * 140)
    assert asked == [(str(tmp_path), "PC_NAME_MAX")]
    short = "s" * (143 - len("..gspart"))  # the longest whose partial name fits
    assert resolve_destination(str(tmp_path), short) == tmp_path / short
    with pytest.raises(BadInput, match="longer than the 143 bytes"):
        resolve_destination(str(tmp_path), short + "x")


def test_a_folder_whose_limit_cannot_be_asked_gets_linuxs_255_bytes(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def pathconf(path: os.PathLike[str] | str, name: str) -> int:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "pathconf", pathconf)
    assert resolve_destination(str(tmp_path), LONG_NAME) == tmp_path / LONG_NAME  # cut to fit, as usual
    with pytest.raises(BadInput):
        resolve_destination(str(tmp_path), LONG_NAME + "b")
