"""Tab completion at the prompt: command names, then paths where a command takes one, each written as the
command line will split it."""

from __future__ import annotations

from pathlib import Path

import pytest

from peer_node.console_completion import completions, split_head


def complete(line: str) -> list[str]:
    """What readline would insert at the end of ``line``, with its word delimiters (white space only)."""
    begidx = max(line.rfind(" "), line.rfind("\t")) + 1
    return [line[:begidx] + c for c in completions(line, begidx, len(line))]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a file with a space, a folder, a hidden file."""
    (tmp_path / "my notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_text("x", encoding="utf-8")
    (tmp_path / ".secret").write_text("x", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_first_word_completes_to_command_names() -> None:
    assert complete("list_f") == ["list_files "]
    assert complete("re") == ["reject_request ", "remove_download ", "resume_download "]
    assert complete("qu") == ["quit "]  # the prompt's own word too
    assert complete("nothing") == []


def test_a_path_argument_completes_to_files_and_folders(here: Path) -> None:
    assert complete("upload_file my") == ["upload_file my\\ notes.txt "]  # one word for parse_line
    assert complete("upload_file ph") == ["upload_file photos/"]  # a folder: go on into it
    assert complete("upload_file photos/") == ["upload_file photos/cat.jpg "]
    assert complete("upload_file ") == ["upload_file my\\ notes.txt ", "upload_file photos/"]  # no hidden ones
    assert complete("upload_file .s") == ["upload_file .secret "]
    assert complete("download_file g1 f.bin ph") == ["download_file g1 f.bin photos/"]


def test_a_path_begun_in_quotes_or_with_an_escaped_space_goes_on_that_way(here: Path) -> None:
    assert complete('upload_file "my') == ['upload_file "my notes.txt" ']
    assert complete("upload_file 'my") == ["upload_file 'my notes.txt' "]
    assert complete("upload_file my\\ n") == ["upload_file my\\ notes.txt "]


def test_a_home_path_is_listed_from_home_and_kept_as_typed(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(here / "photos"))
    assert complete("upload_file ~/c") == ["upload_file ~/cat.jpg "]


def test_an_argument_that_is_not_a_path_is_not_completed(here: Path) -> None:
    assert complete("upload_file my\\ notes.txt ") == []  # the group id
    assert complete("list_files ph") == []
    assert complete("nocommand ph") == []


def test_a_line_is_split_as_the_shell_would() -> None:
    assert split_head('a "b c" d\\ e \'f') == (["a", "b c", "d e"], 13, "f", "'")
    assert split_head("a ") == (["a"], 2, "", None)
