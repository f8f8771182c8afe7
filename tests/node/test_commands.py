"""The command dispatcher's pure parts: splitting, checking and the contract's output forms."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peer_node.commands import COMMANDS, format_download, format_file, format_group, help_text, lines, parse_line
from peer_node.views import DownloadState, DownloadView, FileListing, GroupRole, GroupSummary
from wire.errors import BadInput, TooLarge


def _dl(state: DownloadState, percent: int = 0, reason: str = "", name: str = "f.bin") -> DownloadView:
    return DownloadView("g1", name, "/tmp/x", state, 100, percent, percent, 0.0, None, (), reason=reason)


def test_quoted_argument_with_spaces_is_one_argument() -> None:
    cmd, args = parse_line("upload_file 'my file.bin' g1\n")
    assert cmd.name == "upload_file"
    assert args == ["my file.bin", "g1"]


@pytest.mark.parametrize("line", ["login 'alice", 'login "alice', "create_group g1\\"])
def test_bad_quoting_is_bad_input(line: str) -> None:
    with pytest.raises(BadInput, match="cannot split"):
        parse_line(line)


def test_unknown_command_is_bad_input() -> None:
    with pytest.raises(BadInput, match="unknown command"):
        parse_line("rm -rf /")


def test_wrong_argument_count_shows_usage() -> None:
    with pytest.raises(BadInput, match=r"usage: download_file <group_id> <file_name> <destination_path>"):
        parse_line("download_file g1 f.bin")


@pytest.mark.parametrize("line", ["", "   ", "\n"])
def test_empty_line_is_bad_input(line: str) -> None:
    with pytest.raises(BadInput, match="empty"):
        parse_line(line)


def test_two_lines_are_refused() -> None:
    with pytest.raises(BadInput, match="one command"):
        parse_line("logout\nhelp")


def test_overlong_line_is_refused_as_too_large() -> None:
    with pytest.raises(TooLarge, match="too long") as refused:
        parse_line("help " + "x" * 20000)
    assert refused.value.status == 413  # the contract's "413 body too large", as for a body over the cap


def test_running_download_line_has_integer_percent() -> None:
    assert format_download(_dl(DownloadState.RUNNING, 42)) == "[D] g1 f.bin 42%"


def test_complete_and_failed_download_lines() -> None:
    assert format_download(_dl(DownloadState.COMPLETE, 100)) == "[C] g1 f.bin"
    assert format_download(_dl(DownloadState.FAILED, reason="no seeder\nreachable")) == \
        "[F] g1 f.bin no seeder reachable"


def test_file_line_is_four_tab_separated_fields() -> None:
    line = format_file(FileListing("a b.bin", 123, "ab" * 32, 2))
    assert line.split("\t") == ["a b.bin", "123", "ab" * 32, "2"]


def test_group_line_starts_with_the_group_id() -> None:
    line = format_group(GroupSummary("g1", "alice", 3, GroupRole.MEMBER))
    assert line.split("\t") == ["g1", "alice", "3", "member"]


def test_empty_listing_is_an_empty_body() -> None:
    assert lines([]) == ""
    assert lines(["a", "b"]) == "a\nb\n"


def test_help_lists_every_command_of_the_contract() -> None:
    text = help_text()
    for name in ("create_user", "login", "logout", "create_group", "join_group", "leave_group", "list_groups",
                 "list_requests", "accept_request", "reject_request", "upload_file", "list_files",
                 "download_file", "show_downloads", "stop_share", "help"):
        assert name in COMMANDS
        assert any(ln.startswith(name + " ") or ln.split()[0] == name for ln in text.splitlines())


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_parses_or_is_bad_input(line: str) -> None:
    try:
        cmd, args = parse_line(line)
    except BadInput:
        return
    assert len(args) == len(cmd.args)
