"""Ids and file names follow the contract's rules at every door."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.errors import BadInput
from wire.names import (
    BIDI_CONTROLS,
    check_file_name,
    check_id,
    check_new_file_name,
    is_valid_file_name,
    is_valid_new_file_name,
)


@pytest.mark.parametrize("good", ["a", "alice", "A.b_c-9", "x" * 64, "...", ".a", "a.."])
def test_valid_ids_pass(good: str) -> None:
    assert check_id(good) == good


@pytest.mark.parametrize("bad", ["", "x" * 65, "a b", "é", "a/b", "<script>", None, 5, ".", ".."])
def test_invalid_ids_are_refused(bad: object) -> None:
    with pytest.raises(BadInput, match="invalid group id"):
        check_id(bad, "group id")


@pytest.mark.parametrize("good", ["report.pdf", "with space.txt", "ünïcödé ✓", "a" * 255, "..hidden", "-x"])
def test_valid_file_names_pass(good: str) -> None:
    assert check_file_name(good) == good


@pytest.mark.parametrize(
    "bad", ["", ".", "..", "../x", "a/b", "a\\b", "nul\x00", "tab\tname", "new\nline", "\x7f", "é" * 128,
            "\ud800"],
)
def test_invalid_file_names_are_refused(bad: str) -> None:
    assert not is_valid_file_name(bad)
    with pytest.raises(BadInput):
        check_file_name(bad)


@given(st.text(max_size=300))
def test_a_valid_file_name_is_a_safe_single_path_component(name: str) -> None:
    if is_valid_file_name(name):
        assert "/" not in name and "\x00" not in name and name not in (".", "..")
        assert len(name.encode("utf-8")) <= 255


def test_text_direction_controls_are_refused_but_right_to_left_letters_are_fine() -> None:
    for control in sorted(BIDI_CONTROLS):
        assert not is_valid_file_name(f"invoice{control}fdp.exe"), hex(ord(control))
    assert is_valid_file_name("שלום עולם.txt") and is_valid_file_name("تقرير.pdf")
    with pytest.raises(BadInput, match="text direction controls"):
        check_file_name("invoice\u202efdp.exe")


@pytest.mark.parametrize("name", [
    "invoice\u200b.pdf",  # a zero-width space: a second "invoice.pdf" in every list
    "\ufeffreport.txt", "re\u00adport.txt", "a\u2060b.txt",  # byte order mark, soft hyphen, word joiner
    "notes\u2028[C] g1 salary.xlsx", "a\u2029b",  # line and paragraph separators: a forged line for splitlines()
    "invoice\u200c.pdf", "invoice\u200d.pdf", "\u200dx", "x\u200c",  # joiners where nothing joins
    "\u6f22\u200c\u5b57.pdf", "\ud55c\u200c\uae00.pdf", "\u304b\u200c\u306a.pdf",  # CJK, Hangul, kana: no joining
    "\U000e0067\U000e0062.png",  # flag tags with no flag
])
def test_a_new_name_with_invisible_characters_or_line_separators_is_refused_but_an_old_one_still_works(
        name: str) -> None:
    """Refused for a file shared from now on; a file listed or downloaded under such a name before stays
    reachable by it (refused everywhere, it was dropped from the node's state at start)."""
    assert not is_valid_new_file_name(name)
    with pytest.raises(BadInput, match="invisible characters"):
        check_new_file_name(name)
    assert is_valid_file_name(name) and check_file_name(name) == name


@pytest.mark.parametrize("name", [
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.txt",  # Persian: a non-joiner between letters
    "\u0915\u094d\u200d\u0937.txt",  # Devanagari: a joiner after a virama
    "\U0001f468\u200d\U0001f469\u200d\U0001f467.png",  # a family emoji: joiners between emoji
    "\u2764\ufe0f\u200d\U0001f525.gif",  # after a variation selector
    "\u09b0\u200d\u09cd\u09af\u09be\u09ac.txt",  # Bengali ra-phala: the joiner before the virama
    "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f.png",  # England's flag: tags
    "Ünïcødé naïve résumé.txt",
])
def test_joiners_that_writing_needs_are_kept(name: str) -> None:
    assert is_valid_new_file_name(name) and check_new_file_name(name) == name
