"""The tracker list parser accepts every form of the contract and names the line of any error."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.tracker_list import TrackerListError, load_tracker_list, parse_tracker_list


def addrs(text: str) -> list[str]:
    return [str(t) for t in parse_tracker_list(text)]


def test_colon_form_in_rank_order() -> None:
    assert addrs("127.0.0.1:7001\n127.0.0.1:7002\n") == ["127.0.0.1:7001", "127.0.0.1:7002"]


def test_space_form_with_optional_id() -> None:
    trackers = parse_tracker_list("127.0.0.1 7001 t1\n10.0.0.2 7002\n")
    assert [(str(t), t.name, t.rank) for t in trackers] == [("127.0.0.1:7001", "t1", 1), ("10.0.0.2:7002", None, 2)]


def test_alternate_lines_form() -> None:
    assert addrs("127.0.0.1\n7001\n127.0.0.2\n7002\n") == ["127.0.0.1:7001", "127.0.0.2:7002"]


def test_blank_lines_and_comments_are_ignored() -> None:
    assert addrs("# trackers\n\n  127.0.0.1:7001  \n# second\n\n127.0.0.1:7002\n") == [
        "127.0.0.1:7001", "127.0.0.1:7002"]


def test_a_single_tracker_is_valid() -> None:
    assert addrs("127.0.0.1:7001") == ["127.0.0.1:7001"]


def test_ipv6_and_host_names() -> None:
    trackers = parse_tracker_list("[::1]:7001\nlocalhost 7002\n")
    assert [(t.host, t.port) for t in trackers] == [("::1", 7001), ("localhost", 7002)]
    assert trackers[0].url == "http://[::1]:7001"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("127.0.0.1:70000\n", 1),
        ("127.0.0.1:7001\n127.0.0.1:x\n", 2),
        ("127.0.0.1:7001\n\nbad_host!:7002\n", 3),
        ("127.0.0.1\n", 1),
        ("127.0.0.1\n7001 7002\n", 2),
        ("a b c d\n", 1),
        ("# only comments\n", 1),
        ("127.0.0.1:7001\n127.0.0.2:7001\n# again\n127.0.0.1 7001 other\n", 4),  # one address, two trackers
        ("localhost:7001\nLOCALHOST\n7001\n", 3),
        ("127.0.0.1:7001\nlocalhost:7001\n", 2),
    ],
)
def test_malformed_input_names_the_line(text: str, line: int) -> None:
    with pytest.raises(TrackerListError, match=rf"^line {line}:"):
        parse_tracker_list(text)


def test_a_repeated_address_says_which_tracker_it_repeats() -> None:
    with pytest.raises(TrackerListError, match=r"^line 2: 127.0.0.1:7001 is already tracker 1; one address per"):
        parse_tracker_list("127.0.0.1:7001\n127.0.0.1:7001\n")


def test_a_file_saved_with_a_byte_order_mark_reads_like_one_without(tmp_path: Path) -> None:
    path = tmp_path / "trackers.txt"
    path.write_bytes(b"\xef\xbb\xbf127.0.0.1:7001\r\n127.0.0.1:7002\r\n")  # as Notepad saves it
    assert [str(t) for t in load_tracker_list(path)] == ["127.0.0.1:7001", "127.0.0.1:7002"]


def test_load_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TrackerListError, match="cannot read"):
        load_tracker_list(tmp_path / "nope.txt")


def test_a_mistake_in_a_loaded_list_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "trackers.txt"
    path.write_text("127.0.0.1:7001\n127.0.0.1:0\n", encoding="utf-8")
    with pytest.raises(TrackerListError) as refused:
        load_tracker_list(path)
    assert str(refused.value) == f"{path}: line 2: '0' is not a port (1-65535)"


def test_the_repository_default_lists_two_local_trackers() -> None:
    default = Path(__file__).resolve().parents[2] / "tracker_info.txt"
    assert [str(t) for t in load_tracker_list(default)] == ["127.0.0.1:7001", "127.0.0.1:7002"]


@given(st.text(max_size=300))
def test_any_text_parses_or_raises_only_tracker_list_error(text: str) -> None:
    try:
        trackers = parse_tracker_list(text)
    except TrackerListError as exc:
        assert str(exc).startswith("line ")
    else:
        assert trackers and all(1 <= t.port <= 65535 for t in trackers)
        assert [t.rank for t in trackers] == list(range(1, len(trackers) + 1))
