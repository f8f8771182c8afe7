"""Tab completion at the prompt: command names, then paths where a command takes one, and group ids, file names
and requesters from what the node knows, each written as the command line will split it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peer_node.commands import COMMANDS, Command, Scope, parse_line
from peer_node.completion_cache import Known, Listing, values
from peer_node.console_completion import completions, escaped, split_head
from peer_node.views import GroupRole
from wire.names import is_valid_file_name


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


# --- group ids, file names and requesters, from what the node knows (completion_cache)
KNOWN = Known(
    user="alice",
    groups={"lab": GroupRole.OWNER, "lab-2": GroupRole.MEMBER, "physics": GroupRole.NONE,
            "maths": GroupRole.PENDING},
    groups_at=0.0,
    files={"lab": Listing(("my report.txt", "it's here.pdf", "plain.bin"), 0.0)},
    requests={"lab": Listing(("bob", "carol"), 0.0)},
    shares={"lab-2": ("shared.bin",)},
    downloads={"lab": ("fetching.iso",)},
)


def known(cmd: Command, at: int, group: str | None, partial: str) -> list[str]:
    return [v for v in values(KNOWN, cmd.scope, cmd.args[at], group) if v.startswith(partial)]


def complete_known(line: str) -> list[str]:
    begidx = max(line.rfind(" "), line.rfind("\t")) + 1
    return [line[:begidx] + c for c in completions(line, begidx, len(line), values=known)]


def test_a_group_id_is_completed_from_the_groups_the_command_means() -> None:
    assert complete_known("list_files l") == ["list_files lab ", "list_files lab-2 "]  # the user is in them
    assert complete_known("download_file ") == ["download_file lab ", "download_file lab-2 "]
    assert complete_known("join_group ") == ["join_group physics "]  # not in it, nor asked
    assert complete_known("leave_group m") == ["leave_group maths "]  # asked: leaving withdraws the request
    assert complete_known("list_requests ") == ["list_requests lab "]  # owned only
    assert complete_known("upload_file notes.txt l") == ["upload_file notes.txt lab ", "upload_file notes.txt lab-2 "]
    assert complete_known("create_group l") == []  # a new id: nothing to offer
    assert complete_known("stop_share ") == ["stop_share lab-2 "]  # where this node shares
    assert complete_known("pause_download ") == ["pause_download lab "]  # where it downloads


def test_a_file_name_is_completed_from_the_group_named_before_it_and_quoted_to_be_read_back() -> None:
    assert complete_known("download_file lab my") == ["download_file lab my\\ report.txt "]
    assert complete_known('download_file lab "my') == ['download_file lab "my report.txt" ']
    assert complete_known("download_file lab 'it") == ["download_file lab 'it'\\''s here.pdf' "]
    assert complete_known("download_file lab it") == ["download_file lab it\\'s\\ here.pdf "]
    assert complete_known("download_file lab my\\") == ["download_file lab my\\ report.txt "]  # escape begun
    assert complete_known("download_file lab-2 ") == []  # its files not listed yet
    assert complete_known("stop_share lab-2 s") == ["stop_share lab-2 shared.bin "]
    assert complete_known("remove_download lab ") == ["remove_download lab fetching.iso "]


def test_a_requester_is_completed_for_an_owners_answer_and_no_user_id_elsewhere() -> None:
    assert complete_known("accept_request lab ") == ["accept_request lab bob ", "accept_request lab carol "]
    assert complete_known("reject_request lab c") == ["reject_request lab carol "]
    assert complete_known("login ") == []
    assert complete_known("create_user b") == []


def test_every_command_naming_an_existing_group_says_which_groups() -> None:
    for cmd in COMMANDS.values():
        if "group_id" in cmd.args and cmd.name != "create_group":
            assert cmd.scope is not Scope.NONE, cmd.name


_NAME_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="/\\\x00")
_names = st.text(_NAME_CHARS, min_size=1, max_size=20).filter(is_valid_file_name)


@given(name=_names, others=st.lists(_names, max_size=3), cut=st.integers(min_value=0, max_value=20),
       opened=st.integers(min_value=0, max_value=20), quote=st.sampled_from([None, "'", '"']),
       dangling=st.booleans())
@settings(max_examples=300, deadline=None)
def test_what_is_completed_always_parses_back_to_the_file_name(name: str, others: list[str], cut: int, opened: int,
                                                                 quote: str | None, dangling: bool) -> None:
    """However the user began the word (no quote, a quote opened at its start or within it, an escape half typed),
    each completion is a word the console's parser reads back as one of the names, and the name begun is among
    them."""
    names = [name, *others]
    cut = min(cut, len(name))
    opened = min(opened, cut)  # where the quote was opened
    typed = escaped(name[:opened], None) + (quote or "") + escaped(name[opened:cut], quote)
    if dangling and quote is None and cut < len(name):
        typed += "\\"  # the next character's escape typed, not the character
    line = f"download_file lab {typed}"
    begidx = max(line.rfind(" "), line.rfind("\t")) + 1
    got = completions(line, begidx, len(line), values=lambda cmd, at, group, partial: names)
    parsed = []
    for c in got:
        cmd, args = parse_line(line[:begidx] + c + "dest")
        assert cmd.name == "download_file" and args[0] == "lab" and args[2] == "dest"
        parsed.append(args[1])
    assert name in parsed
    assert set(parsed) <= set(names)
