"""The contract's destination rules for download_file, checked before anything starts."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pytest

from peer_node.destinations import (
    partial_in_the_way,
    pieces_state_path,
    remove_partial,
    resolve_destination,
    temp_path_for,
)
from peer_node.web_ui import download_actions
from peer_node.web_ui.free_name import first_free
from wire.errors import BadInput, Conflict


def test_existing_directory_receives_the_file_name(tmp_path: Path) -> None:
    assert resolve_destination(str(tmp_path), "f.bin") == tmp_path / "f.bin"


def test_new_path_in_an_existing_directory_names_the_file(tmp_path: Path) -> None:
    assert resolve_destination(str(tmp_path / "copy.bin"), "f.bin") == tmp_path / "copy.bin"


def test_relative_path_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert resolve_destination("sub", "f.bin", cwd=str(tmp_path)) == tmp_path / "sub" / "f.bin"


def test_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "copy.bin").write_bytes(b"mine")
    with pytest.raises(Conflict):
        resolve_destination(str(tmp_path / "copy.bin"), "f.bin")


def test_directory_already_holding_the_name_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"mine")
    with pytest.raises(Conflict):
        resolve_destination(str(tmp_path), "f.bin")


def test_missing_parent_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        resolve_destination(str(tmp_path / "nope" / "copy.bin"), "f.bin")


def test_dangling_symlink_is_not_followed(tmp_path: Path) -> None:
    os.symlink(tmp_path / "elsewhere", tmp_path / "link")
    with pytest.raises(Conflict):
        resolve_destination(str(tmp_path / "link"), "f.bin")
    assert not (tmp_path / "elsewhere").exists()


def test_symlink_to_a_directory_names_the_directory_it_points_to_now(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert resolve_destination(str(tmp_path / "link"), "f.bin") == tmp_path / "real" / "f.bin"
    assert resolve_destination(str(tmp_path / "link") + "/", "f.bin") == tmp_path / "real" / "f.bin"
    (tmp_path / "real" / "f.bin").write_bytes(b"mine")
    with pytest.raises(Conflict):  # what is in the real directory is never overwritten either
        resolve_destination(str(tmp_path / "link"), "f.bin")


def test_a_path_through_a_linked_folder_names_the_file_in_the_folder_it_points_to_now(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    # two ways to name one file are one destination, so a second download to it is refused like the first way
    assert resolve_destination(str(tmp_path / "link" / "copy.bin"), "f.bin") == tmp_path / "real" / "copy.bin"
    (tmp_path / "real" / "sub").mkdir()
    assert resolve_destination(str(tmp_path / "link" / "sub"), "f.bin") == tmp_path / "real" / "sub" / "f.bin"


def test_a_link_another_user_made_is_refused_at_the_end_of_the_path_or_on_the_way(tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch
                                                                                   ) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert resolve_destination(str(tmp_path / "link"), "f.bin") == tmp_path / "real" / "f.bin"  # ours: followed
    monkeypatch.setattr("peer_node.destinations._trusted_link_owners", lambda: {987654})  # as if another user's
    for raw in (str(tmp_path / "link"), str(tmp_path / "link") + "/", str(tmp_path / "link" / "copy.bin")):
        with pytest.raises(BadInput, match="a symbolic link another user made"):
            resolve_destination(raw, "f.bin")
    assert resolve_destination(str(tmp_path / "real"), "f.bin") == tmp_path / "real" / "f.bin"  # no link: fine


def test_a_symlink_to_a_file_is_never_written_through(tmp_path: Path) -> None:
    (tmp_path / "victim").write_bytes(b"mine")
    os.symlink(tmp_path / "victim", tmp_path / "link")
    with pytest.raises(Conflict):
        resolve_destination(str(tmp_path / "link"), "f.bin")
    assert (tmp_path / "victim").read_bytes() == b"mine"


def test_a_trailing_slash_names_a_directory_never_a_new_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"directory .*nope does not exist"):
        resolve_destination(str(tmp_path / "nope") + "/", "f.bin")
    assert not (tmp_path / "nope").exists()
    (tmp_path / "file").write_bytes(b"mine")
    with pytest.raises(BadInput, match="is not a directory"):
        resolve_destination(str(tmp_path / "file") + "/", "f.bin")
    assert resolve_destination(str(tmp_path) + "/", "f.bin") == tmp_path / "f.bin"


@pytest.mark.parametrize("raw", ["", "a\x00b"])
def test_malformed_destination_is_bad_input(raw: str) -> None:
    with pytest.raises(BadInput):
        resolve_destination(raw, "f.bin")


def test_bad_file_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInput):
        resolve_destination(str(tmp_path), "../evil")


@pytest.mark.parametrize("name", ["é" * 127 + "x", "日本" * 42 + "x", "a" * 255, "b" * 250 + "é"])
def test_the_partial_file_of_a_long_name_fits_one_path_component(tmp_path: Path, name: str) -> None:
    assert len(name.encode("utf-8")) <= 255
    temp = temp_path_for(tmp_path / name)
    assert len(temp.name.encode("utf-8")) <= 255 and temp.name.startswith(".") and temp.name.endswith(".gspart")
    temp.write_bytes(b"part")  # the file system takes it (a name over 255 bytes: ENAMETOOLONG)
    other = temp_path_for(tmp_path / (name[:-1] + "y"))  # same long prefix, another name: another partial file
    assert other != temp and len(other.name.encode("utf-8")) <= 255


def test_partial_file_sits_beside_the_final_one(tmp_path: Path) -> None:
    temp = temp_path_for(tmp_path / "f.bin")
    assert temp.parent == tmp_path and temp.name.startswith(".") and temp != tmp_path / "f.bin"


def test_removing_a_partial_download_deletes_its_file_and_pieces_state_but_nothing_else(tmp_path: Path) -> None:
    data, key = tmp_path / "data", ("alice", "team", "f.bin")
    state = pieces_state_path(data, key)
    assert state.parent == data / "partial" and (state.parent.stat().st_mode & 0o777) == 0o700
    assert pieces_state_path(data, ("alice", "team", "g.bin")) != state  # one state per download
    state.write_text("{}")
    temp = temp_path_for(tmp_path / "f.bin")
    temp.write_bytes(b"part")
    (tmp_path / "f.bin").write_bytes(b"someone else's file")  # never touched
    remove_partial(data, key, str(tmp_path / "f.bin"))
    assert not temp.exists() and not state.exists() and (tmp_path / "f.bin").read_bytes() == b"someone else's file"
    remove_partial(data, key, str(tmp_path / "f.bin"))  # nothing left to remove: no error


def test_removing_a_partial_download_never_deletes_through_a_link(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    temp_path_for(tmp_path / "f.bin").symlink_to(victim)
    remove_partial(tmp_path / "data", ("alice", "team", "f.bin"), str(tmp_path / "f.bin"))
    assert victim.read_bytes() == b"keep" and temp_path_for(tmp_path / "f.bin").is_symlink()


@pytest.mark.parametrize("folder", ["/proc", "/proc/1", "/sys"])
def test_a_folder_nobody_can_create_files_in_is_refused_at_once(folder: str) -> None:
    # os.access says yes to root for these; the download then failed only after it had run
    with pytest.raises(BadInput, match="is not writable"):
        resolve_destination(folder, "f.bin")


def test_the_write_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    assert resolve_destination(str(tmp_path), "f.bin") == tmp_path / "f.bin"
    assert list(tmp_path.iterdir()) == []


def test_a_partial_file_name_held_by_something_else_is_in_the_way_but_a_downloads_own_is_not(tmp_path: Path) -> None:
    target = tmp_path / "report.bin"
    assert partial_in_the_way(target, resumes_here=False) is None
    temp_path_for(target).write_bytes(b"someone's")
    assert partial_in_the_way(target, resumes_here=False) == temp_path_for(target)
    assert partial_in_the_way(target, resumes_here=True) is None  # its own, left by an earlier run: resumed


def test_the_browser_numbers_a_download_whose_partial_file_name_is_taken(tmp_path: Path) -> None:
    """Clicking Download saves as "report (1).bin" rather than fail on a ``.report.bin.gspart`` that is not this
    download's; its own partial file there is resumed under the plain name."""
    temp_path_for(tmp_path / "report.bin").write_bytes(b"someone's")
    taken_unless_mine = partial(download_actions._target_taken, tmp_path, resumes_at=set())
    assert first_free("report.bin", taken_unless_mine) == "report (1).bin"
    mine = partial(download_actions._target_taken, tmp_path, resumes_at={str(tmp_path / "report.bin")})
    assert first_free("report.bin", mine) == "report.bin"
