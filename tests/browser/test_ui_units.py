"""The UI's small pure pieces, without a browser: redirects stay on site, CSRF comparison, session versions
and the cookie key persist privately, the filter box matches words, and the real NodeService fits the interface the
UI is typed against.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web
from cryptography.fernet import InvalidToken

from peer_node.service import NodeService
from peer_node.web_ui import setup_ui
from peer_node.web_ui.pages import matches
from peer_node.web_ui.ports import UiService
from peer_node.web_ui.security import SessionVersions, csrf_ok, load_or_create_key
from peer_node.web_ui.state import safe_next


def _fits(service: NodeService) -> UiService:
    return service  # mypy --strict checks that NodeService satisfies UiService


def test_after_login_redirects_only_to_paths_of_this_site() -> None:
    assert safe_next("/groups/team?x=1") == "/groups/team?x=1"
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil", "", None, "groups"):
        assert safe_next(bad) == "/"


def test_the_filter_matches_every_word_in_any_order_ignoring_case() -> None:
    assert matches("", "anything")
    assert matches("  ", "anything")
    assert matches("03 LECTURE", "Lecture-03.pdf")
    assert matches("lab alice", "lab-2", "alice")  # a group's id and its owner, as the page's row holds them
    assert not matches("lecture 04", "Lecture-03.pdf")
    assert not matches("lab bob", "lab-2", "alice")
    assert matches("FILE", "ﬁle.txt")  # NFKC: the ligature is two letters, as in the browser's script
    assert matches("ΣΊΣΥΦΟΣ", "σίσυφος.txt")  # the final sigma, as the script lower-cases it


def test_csrf_token_must_match_exactly() -> None:
    session = {"csrf": "a" * 43}
    assert csrf_ok(session, "a" * 43)  # type: ignore[arg-type]
    assert not csrf_ok(session, "a" * 42 + "b")  # type: ignore[arg-type]
    assert not csrf_ok(session, None)  # type: ignore[arg-type]
    assert not csrf_ok({}, "")  # type: ignore[arg-type]


def test_session_versions_survive_a_restart_in_a_private_file(tmp_path: Path) -> None:
    versions = SessionVersions(tmp_path)
    assert versions.current("alice") == 0
    assert versions.bump("alice") == 1
    assert SessionVersions(tmp_path).current("alice") == 1
    assert stat.S_IMODE((tmp_path / "web-sessions.json").stat().st_mode) == 0o600


def test_a_damaged_count_file_ends_every_browser_session_rather_than_reviving_logged_out_ones(
        tmp_path: Path) -> None:
    SessionVersions(tmp_path).bump("alice")  # a logout: alice's cookies of count 0 no longer open a session
    cookie = load_or_create_key(tmp_path).encrypt(b'{"session": {"uid": "alice", "ver": 0}}')
    (tmp_path / "web-sessions.json").write_text("{cut off", encoding="utf-8")
    assert SessionVersions(tmp_path).damaged  # read as all zeros, that cookie would count again
    service, config = SimpleNamespace(on_logout=[]), SimpleNamespace(web_port=8080, data_dir=tmp_path)
    setup_ui(web.Application(), service, config)
    with pytest.raises(InvalidToken):
        load_or_create_key(tmp_path).decrypt(cookie)  # a new cookie key: no cookie of before opens
    again = SessionVersions(tmp_path)
    assert not again.damaged and again.current("alice") == 0  # counting from 0 is safe under the new key


def test_cookie_key_is_made_once_and_kept(tmp_path: Path) -> None:
    first = load_or_create_key(tmp_path)
    token = first.encrypt(b"x")
    assert load_or_create_key(tmp_path).decrypt(token) == b"x"
    assert stat.S_IMODE((tmp_path / "web-session.key").stat().st_mode) == 0o600


def test_the_piece_map_s_plain_done_colour_is_no_member_s_colour() -> None:
    css = (Path(__file__).resolve().parents[2] / "web" / "static" / "app.css").read_text("utf-8")
    members = set(re.findall(r"--peer-\d: (#[0-9a-f]{6});", css))  # light and dark
    done = set(re.findall(r"--pm-done: (#[0-9a-f]{6});", css))
    assert len(members) == 12 and done, (members, done)  # the legend can only tell apart what differs
    assert not members & done
