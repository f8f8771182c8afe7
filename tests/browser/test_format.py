"""The UI's wording (pure functions, no browser): sizes, times, the download sentence, the piece map."""

from __future__ import annotations

import time

from peer_node.download_views import given_so_far
from peer_node.natural_order import natural_key
from peer_node.piece_sources import expand, summarize
from peer_node.units import human_size
from peer_node.views import DownloadState, DownloadView, FileListing, GroupDetail, GroupRole, MemberView, NodeStatus
from peer_node.web_ui.download_words import (
    announcement,
    badge_tone,
    cell_runs,
    contributions,
    detail_text,
    kept_words,
    peer_colour,
    piece_cells,
    progress_text,
    rejoin_words,
    state_word,
)
from peer_node.web_ui.format import (
    ago,
    clear_notice,
    clock_time,
    copies_note,
    error_parts,
    filter_count,
    human_eta,
    leave_confirm,
    names_list,
    presence,
    sentence,
    tracker_detail,
    tracker_words,
    wait_words,
)


def view(**kw: object) -> DownloadView:
    base: dict[str, object] = dict(group_id="g", file_name="f.bin", destination="/d/f.bin",
                                   state=DownloadState.RUNNING, size=10_000_000, bytes_done=3_100_000, percent=31,
                                   speed_bps=1_200_000.0, eta_s=350.0, peers=("alice", "bob"))
    base.update(kw)
    return DownloadView(**base)  # type: ignore[arg-type]


def test_sizes_use_decimal_units() -> None:
    assert [human_size(n) for n in (0, 999, 1500, 3_100_000, 250e9)] == ["0 B", "999 B", "1.5 kB", "3.1 MB",
                                                                        "250 GB"]


def test_time_left_and_last_seen_read_as_words() -> None:
    assert human_eta(None) == "" and human_eta(20) == "less than a minute left"
    assert human_eta(350) == "about 6 min left" and human_eta(4 * 3600) == "about 4 h left"
    def local(day: int, hour: int, minute: int) -> float:
        return time.mktime((2026, 12, day, hour, minute, 0, 0, 0, -1))

    assert clock_time(local(7, 9, 5), local(7, 18, 30)) == "09:05"  # today: the time alone
    assert clock_time(local(5, 10, 42), local(7, 18, 30)) == "5 Dec 10:42"
    assert ago(None, 100) == "never" and ago(90, 100) == "just now" and ago(0, 7200) == "2 h ago"


def test_clearing_completed_downloads_says_where_their_files_are_or_that_some_are_gone() -> None:
    assert clear_notice(0, 0) == "No complete download to clear."
    assert clear_notice(1, 0) == "Cleared 1 complete download from the list. Its file stays where it was saved."
    assert clear_notice(1, 1) == ("Cleared 1 complete download from the list. Its file was no longer where it was "
                                  "saved (moved or deleted).")
    assert clear_notice(3, 0) == "Cleared 3 complete downloads from the list. Their files stay where they were saved."
    assert clear_notice(3, 1) == ("Cleared 3 complete downloads from the list. Their files stay where they were "
                                  "saved, but for 1 no longer there (moved or deleted).")
    assert clear_notice(2, 2).endswith("Their files were no longer where they were saved (moved or deleted).")


def test_a_wait_is_said_in_seconds_then_whole_minutes_rounded_up() -> None:
    assert [wait_words(s) for s in (0, 1, 2, 119, 120, 121, 900)] == [
        "1 second", "1 second", "2 seconds", "119 seconds", "2 minutes", "3 minutes", "15 minutes"]


def test_a_member_offline_says_when_last_seen_or_that_they_are_logged_out() -> None:
    assert presence(True, 100, 100) == "Online now"
    assert presence(False, 0, 150) == "Offline · last seen 2 min ago"  # a node stopped cleanly two minutes ago
    assert presence(False, None, 150) == "Offline · logged out"  # no session: not "last seen never"


def test_a_running_download_says_progress_speed_time_and_sources() -> None:
    d = view()
    assert state_word(d) == "Downloading"
    assert progress_text(d) == "3.1 MB of 10.0 MB (31%)"
    assert detail_text(d) == "1.2 MB/s · about 6 min left · from alice and bob"
    just_started = view(speed_bps=0.0, eta_s=None, peers=("alice",), bytes_done=0, percent=0)
    assert detail_text(just_started) == "Starting · from alice"  # not "0 B/s" before the first rate
    quiet = view(speed_bps=0.0, eta_s=None, peers=("alice",))  # nothing for half a minute, halfway through
    assert detail_text(quiet) == "Waiting for data · from alice"
    alone = view(speed_bps=0.0, eta_s=None, peers=(), bytes_done=0, percent=0)
    assert detail_text(alone) == "Looking for members who have it"
    assert names_list(["a", "b", "c"]) == "a, b and c"


def test_stalled_failed_and_complete_downloads_say_so() -> None:
    assert state_word(view(peers=(), speed_bps=0.0)) == "Waiting for members"
    # Its only member just went away: the last measured rate and time left are not shown as if still true.
    gone = view(peers=(), speed_bps=465_000.0, eta_s=20)
    assert (state_word(gone), detail_text(gone)) == ("Waiting for members", "Looking for members who have it")
    assert detail_text(view(state=DownloadState.FAILED, reason="no seeder left")) == "No member who has it left."
    failed = view(state=DownloadState.FAILED, reason="no seeder reachable (alice: their node is not running); "
                                                     "resumes by itself when a member who has it is back")
    assert detail_text(failed) == "No member who has it can be reached (alice: their node is not running); " \
                                  "resumes by itself when a member who has it is back."
    assert detail_text(view(state=DownloadState.FAILED, reason="disk error: full")) == "Disk error: full."
    assert state_word(view(state=DownloadState.COMPLETE)) == "Complete"


def test_a_failed_download_says_what_removing_it_deletes_and_an_end_is_announced() -> None:
    failed = view(state=DownloadState.FAILED, reason="no seeder reachable", bytes_done=2_100_000)
    assert kept_words(failed) == "2.1 MB" and kept_words(view()) == ""
    assert kept_words(view(state=DownloadState.FAILED, bytes_done=0)) == ""
    # a download of a group left: resumed if it kept pieces (it had failed before), fetched anew if the leave
    # deleted them
    assert rejoin_words("lab", failed) == "Join lab again to resume it, or remove it."
    left = view(state=DownloadState.FAILED, reason="left the group", bytes_done=0)
    assert rejoin_words("lab", left) == rejoin_words("lab", None) == "Join lab again to download it, or remove it."
    assert announcement(failed) == f"The download of {failed.file_name} from {failed.group_id} failed: " \
                                   "No member who has it can be reached."
    assert announcement(view(state=DownloadState.COMPLETE)).endswith("is complete.")
    assert announcement(view()) == ""
    waiting = view(state=DownloadState.FAILED, reason="no seeder reachable; resumes by itself", will_resume=True)
    assert (state_word(waiting), badge_tone(waiting)) == ("Waiting for members", "W")
    assert announcement(waiting).startswith(f"The download of {waiting.file_name} from g stopped for now: ")
    assert (state_word(failed), badge_tone(failed)) == ("Failed", "F")


def test_a_download_filled_from_our_own_copy_says_so() -> None:
    d = view(peers=(), speed_bps=0.0, eta_s=None, copying_from="/home/a/data.bin")
    assert state_word(d) == "Copying"
    assert detail_text(d) == "Copying the verified pieces of your own copy at /home/a/data.bin"


def test_piece_map_never_claims_more_than_is_done() -> None:
    assert piece_cells("dd.f") == "dd.f"
    big = "d" * 150 + "." * 90
    cells = piece_cells(big, max_cells=4)
    assert cells == "ddp."
    assert cell_runs("ddf..") == [("d", 0, 2), ("f", 2, 1), (".", 3, 2)]


def test_piece_map_colours_done_cells_by_the_member_who_gave_them() -> None:
    sources = {0: "alice", 1: "alice", 2: "bob", 3: "alice"}
    alice, bob = str(peer_colour("alice")), str(peer_colour("bob"))
    assert piece_cells("dddd.", sources=sources) == alice + alice + bob + alice + "."
    # a cell of pieces from two members, or of a piece with no known source, is plainly done
    assert piece_cells("dddd", max_cells=2, sources=sources) == alice + "d"
    assert piece_cells("dd", sources={0: "bob"}) == bob + "d"


def test_service_messages_become_sentences() -> None:
    assert sentence("no such group: x") == "No such group: x."
    assert sentence("Done!") == "Done!"


def test_live_copies_warn_only_when_no_online_node_holds_the_file() -> None:
    assert copies_note(0, held_here=False) == ("Offline: no node that holds it is online now", True)
    assert copies_note(1, held_here=True) == ("Only this node has it so far", False)  # a fresh share: no alarm
    assert copies_note(1, held_here=False) == ("1 live copy", False)
    assert copies_note(3, held_here=True) == ("3 live copies", False)


def test_a_filtered_list_says_how_many_match() -> None:
    assert filter_count(3, 40, "bio", "groups") == "3 of 40 groups match “bio”."
    assert filter_count(40, 40, "", "files") == "40 files."


def test_names_sort_in_people_s_order() -> None:
    names = ["team-10", "Team-2", "f10.txt", "f2.txt", "Résumé.pdf", "big200.bin", "team-1"]
    assert sorted(names, key=natural_key) == ["big200.bin", "f2.txt", "f10.txt", "Résumé.pdf", "team-1", "Team-2",
                                              "team-10"]


def test_a_finished_download_keeps_who_gave_each_cell_of_its_map() -> None:
    n = 300  # more pieces than cells: 120 cells of 2-3 pieces
    states = "d" * n
    sources = {k: ("alice" if k < 150 else "bob") for k in range(n)}
    sources[10] = "carol"  # one cell of alice's half had a piece from carol: that cell is no one's colour
    summary = summarize(sources, n)
    assert len(summary) == 120 and summary.count("") == 1 and set(summary) == {"alice", "bob", ""}
    assert piece_cells(states, sources=expand(summary, n)) == piece_cells(states, sources=sources)
    assert expand(summary, 50) == {}  # cells of another map: nothing rather than wrong colours
    small = {0: "alice", 1: "bob"}
    assert piece_cells("dd", sources=expand(summarize(small, 2), 2)) == piece_cells("dd", sources=small)


def test_the_tracker_words_say_which_tracker_serves_and_a_failover_as_what_happened() -> None:
    first = NodeStatus("alice", "127.0.0.1:7001", "127.0.0.1:9001", 1, False)
    assert tracker_detail(first) == ("on", "Connected to tracker 1 at 127.0.0.1:9001, the first in the list.")
    assert tracker_words(first) == "Tracker 127.0.0.1:9001."
    moved = NodeStatus("alice", "127.0.0.1:7001", "127.0.0.1:9002", 2, True)
    dot, words = tracker_detail(moved)
    assert dot == "warn" and words.startswith("Failed over: using tracker 2 at 127.0.0.1:9002")
    assert "moved to when the trackers before it in the list did not answer" in words  # not "do not": 1 may be back
    assert tracker_words(moved) == "Tracker 127.0.0.1:9002 (failed over)."
    none = NodeStatus("alice", "127.0.0.1:7001", None, None, False)
    assert tracker_detail(none)[0] == "off" and "No tracker answers right now" in tracker_detail(none)[1]


def test_who_gave_what_is_a_share_of_the_file_so_uncounted_bytes_leave_the_bar_short() -> None:
    # 4 MB of a 10 MB file came before a crash (uncounted): alice's 6 MB is 60% of the bar, not all of it.
    given = contributions(view(bytes_by_peer={"alice": 6_000_000}, bytes_done=10_000_000))
    assert [(who, size, share) for who, size, share, _ in given] == [("alice", "6.0 MB", 0.6)]
    two = contributions(view(bytes_by_peer={"bob": 2_500_000, "alice": 7_500_000, "carol": 0}))
    assert [(who, share) for who, _, share, _ in two] == [("alice", 0.75), ("bob", 0.25)]  # biggest first
    twice = contributions(view(bytes_by_peer={"alice": 8_000_000, "bob": 12_000_000}))  # pieces fetched twice
    assert sum(share for _, _, share, _ in twice) == 1.0


def test_what_members_gave_adds_up_over_every_run_of_a_download() -> None:
    assert given_so_far({"alice": 10, "bob": 5}, {"bob": 1, "carol": 2}) == {"alice": 10, "bob": 6, "carol": 2}
    assert given_so_far({}, {}) == {}


def test_an_error_keeps_each_trackers_failure_for_its_details_only() -> None:
    said = "no tracker could answer (127.0.0.1:7001: connection refused | 127.0.0.1:7002: no answer within 10 s); " \
           "try again in a moment"
    assert error_parts(said) == ("No tracker could answer right now. Try again in a moment.",
                                 "127.0.0.1:7001: connection refused | 127.0.0.1:7002: no answer within 10 s")
    maybe = "no tracker could answer (127.0.0.1:7001: no answer within 10 s); it may have been done all the same: " \
            "look before you try again"
    assert error_parts(maybe) == ("No tracker could answer right now. It may have been done all the same: look "
                                  "before you try again.", "127.0.0.1:7001: no answer within 10 s")
    assert error_parts("only members of lab may do that") == ("Only members of lab may do that.", None)


def _group(role: GroupRole, members: tuple[str, ...], files: tuple[tuple[str, int], ...] = ()) -> GroupDetail:
    return GroupDetail("lab", members[0], role, tuple(MemberView(u, i == 0, True, None) for i, u in enumerate(members)),
                       tuple(FileListing(name, 1, "ab" * 32, live) for name, live in files), ())


def test_leaving_asks_with_what_it_ends_for_the_others() -> None:
    assert leave_confirm(_group(GroupRole.OWNER, ("alice",)), "alice", set()) == \
        "Leave lab? You are its only member, so the group is deleted."
    assert leave_confirm(_group(GroupRole.MEMBER, ("alice", "bob")), "bob", set()) == \
        "Leave lab? Your shares in it end."
    owner = _group(GroupRole.OWNER, ("alice", "carol", "bob"), (("big.bin", 1), ("notes.txt", 2), ("b10", 1),
                                                               ("b9", 1), ("x", 1), ("y", 0)))
    assert leave_confirm(owner, "alice", {"big.bin", "notes.txt"}) == \
        "Leave lab? carol becomes its owner. Your shares in it end, and the members lose big.bin: only this " \
        "node has it."  # carol joined before bob; notes.txt has another live copy
    assert leave_confirm(owner, "alice", {"big.bin", "b10", "b9", "x", "y"}) == \
        "Leave lab? carol becomes its owner. Your shares in it end, and the members lose b9, b10, big.bin and 2 " \
        "more: only this node has them."
    assert leave_confirm(_group(GroupRole.MEMBER, ("alice", "bob")), "bob", set(), ["big.iso"]) == \
        "Leave lab? Your shares in it end. Your download of big.iso stops, and what it fetched is deleted."
    assert leave_confirm(_group(GroupRole.OWNER, ("alice",)), "alice", set(), ["a", "b"]) == \
        "Leave lab? You are its only member, so the group is deleted. Your 2 unfinished downloads from it stop, " \
        "and what they fetched is deleted."
