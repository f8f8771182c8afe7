"""Attacks through file names and paths: traversal names (``../x``, absolute paths, NUL, control characters)
from a user or a hostile tracker, symlinked destinations, a partial file planted by another local user. A
download never writes outside the destination the user named, never through a link, never over an existing
file, and appears under its final name only once it is complete and verified."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from peer_node.destinations import resolve_destination, temp_path_for
from peer_node.swarm import PieceStore
from tests.swarm.helpers import make_file, meta_of
from wire.errors import BadInput, Conflict
from wire.names import check_file_name
from wire.records import FileMeta

PIECE = 16 * 1024
HOSTILE_NAMES = ["../x", "..", ".", "/etc/passwd", "a/../../b", "a\\..\\b", "a\x00b", "a\nb", "a\x1b[2Jb", "a\x7fb",
                 "", "x" * 256]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_file_names_are_refused_by_the_shared_rule(name: str) -> None:
    with pytest.raises(BadInput):
        check_file_name(name)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_download_named_by_a_hostile_tracker_is_refused_before_any_write(tmp_path: Path, name: str) -> None:
    with pytest.raises(BadInput):
        resolve_destination(str(tmp_path), name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["report.pdf", "...", "..hidden", "ünïcödé ✓.txt", "a b c"])
def test_a_good_name_lands_directly_inside_the_named_directory(tmp_path: Path, name: str) -> None:
    target = resolve_destination(str(tmp_path), name)
    assert target.parent == tmp_path and target.name == name
    assert temp_path_for(target).parent == tmp_path


@pytest.mark.parametrize("raw", ["bad\x00path", "x" * 5000])
def test_malformed_destinations_are_refused(tmp_path: Path, raw: str) -> None:
    with pytest.raises(BadInput):
        resolve_destination(raw, "f.bin", cwd=str(tmp_path))


def test_symlinked_destinations_are_never_written_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "to_dir").symlink_to(outside)
    (inside / "to_file").symlink_to(outside / "precious")
    (inside / "dangling").symlink_to(outside / "not-yet")
    # A link to a directory names the directory it points to now, if this user (or root) made it ...
    assert resolve_destination(str(inside / "to_dir"), "f.bin") == outside / "f.bin"
    # ... and is refused if another user planted it (as fs.protected_symlinks would in a sticky directory)
    if os.geteuid() == 0:
        os.lchown(inside / "to_dir", 4242, 4242)  # root may give the link away
    else:
        monkeypatch.setattr(os, "geteuid", lambda: os.lstat(inside / "to_dir").st_uid + 1)
    with pytest.raises(BadInput, match="another user"):
        resolve_destination(str(inside / "to_dir"), "f.bin")
    for link in ("to_file", "dangling"):
        with pytest.raises(Conflict):
            resolve_destination(str(inside / link), "f.bin")
    with pytest.raises(Conflict):  # a directory already holding the name
        resolve_destination(str(outside), "precious")
    assert (outside / "precious").read_text() == "keep me" and sorted(os.listdir(outside)) == ["precious"]


@pytest.fixture
def meta(tmp_path: Path) -> tuple[FileMeta, bytes]:
    data = make_file(tmp_path / "source.bin", 3 * PIECE + 7)
    return meta_of("f.bin", data, PIECE), data


def fill(store: PieceStore, data: bytes) -> None:
    for i in range(store.meta.piece_count):
        assert store.verify_and_write(i, bytearray(data[i * PIECE:(i + 1) * PIECE]))
        store.mark_verified(i)


@pytest.mark.parametrize("resume", [False, True])
async def test_a_partial_file_planted_as_a_symlink_is_not_written_through(tmp_path: Path,
                                                                         meta: tuple[FileMeta, bytes],
                                                                         resume: bool) -> None:
    file_meta, data = meta
    victim = tmp_path / "victim.txt"
    victim.write_text("the other user's precious file")
    dest = tmp_path / "dl"
    dest.mkdir()
    temp = temp_path_for(dest / "f.bin")
    state = tmp_path / "state.json"
    if resume:  # a state file with every piece saved: the node would otherwise reopen the partial file
        first = PieceStore.open_partial(temp, state, file_meta)
        fill(first, data)
        first.close()
        temp.unlink()
    temp.symlink_to(victim)
    # Either way the link is removed, not followed, and a fresh file of our own takes its place; a resumed
    # download trusts none of its saved pieces, the partial file not being what this node left there.
    store = PieceStore.open_partial(temp, state, file_meta)
    assert store.verified_count == 0
    store.close()
    assert not temp.is_symlink() and temp.stat().st_size == file_meta.size
    assert victim.read_text() == "the other user's precious file"


async def test_a_partial_file_planted_as_a_hard_link_is_not_truncated(tmp_path: Path,
                                                                  meta: tuple[FileMeta, bytes]) -> None:
    file_meta, data = meta
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    temp = temp_path_for(tmp_path / "f.bin")
    os.link(victim, temp)
    store = PieceStore.open_partial(temp, tmp_path / "state.json", file_meta)  # a fresh start: a fresh file
    try:
        fill(store, data)
    finally:
        store.close()
    assert victim.read_text() == "precious"


async def test_the_file_appears_under_its_name_only_when_complete_and_never_over_another(
        tmp_path: Path, meta: tuple[FileMeta, bytes]) -> None:
    file_meta, data = meta
    final = tmp_path / "f.bin"
    temp = temp_path_for(final)
    store = PieceStore.open_partial(temp, tmp_path / "state.json", file_meta)
    try:
        fill(store, data)
        assert not final.exists() and temp.exists()  # written under the temporary name meanwhile
        final.write_text("appeared meanwhile")
        with pytest.raises(Conflict):
            await store.finish(final)
        assert final.read_text() == "appeared meanwhile"
        final.unlink()
        assert await store.finish(final) == final
        assert final.read_bytes() == data and not temp.exists()  # renamed at the end, nothing left behind
    finally:
        store.close()
