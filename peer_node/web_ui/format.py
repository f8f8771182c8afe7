"""Pure wording for the browser UI: sizes, speeds, times and the one-sentence status of a download.

Everything here is a plain function of its arguments (``now`` is passed in), so the pages and the live
event stream say exactly the same thing and the wording is unit-tested without a browser.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

from peer_node.natural_order import natural_key
from peer_node.piece_sources import MAP_CELLS, cell_bounds
from peer_node.rates import format_rate
from peer_node.units import human_size
from peer_node.upload_copies import is_upload_copy
from peer_node.views import DownloadState, DownloadView, GroupDetail, GroupRole, NodeStatus
from wire.names import ID_RULE as ID_RULE  # for the templates: fmt.ID_RULE

PIECE_MAP_CELLS = MAP_CELLS  # a map never has more cells than this, whatever the piece count


def sentence(message: str) -> str:
    """Service messages are terse lines ('no such group: x'); on a page they read as a sentence. No message starts
    with a name the user chose (they say 'user alice ...', 'the file x ...'): capitalising one would change it."""
    text = message.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


_NO_TRACKER = re.compile(r"no tracker could answer \((?P<detail>.*)\); (?P<then>.*)", re.DOTALL)


def error_parts(message: str) -> tuple[str, str | None]:
    """An error as a page shows it: the sentence, and what only helps someone fixing it (each tracker's address
    and its failure) apart, for a Details disclosure; the command line prints it all in one line."""
    found = _NO_TRACKER.fullmatch(message.strip())
    if found is None:
        return sentence(message), None
    return f"No tracker could answer right now. {sentence(found.group('then'))}", found.group("detail")


def fold(text: str) -> str:
    """Text as the filter box compares it: NFKC, lower case, and every sigma one letter (whether a capital sigma
    lowers to the final form depends on what follows it), which the browser's script does alike (app.js;
    ``casefold`` has no match there, and the two sides disagreed on "ß")."""
    return unicodedata.normalize("NFKC", text).lower().replace("ς", "σ")


def filter_count(shown: int, total: int, query: str, noun: str) -> str:
    """What a filtered list says of itself (app.js words it the same as the user types)."""
    return f"{shown} of {total} {noun} match “{query}”." if query else f"{total} {noun}."


def copies_note(live: int, held_here: bool) -> tuple[str, bool]:
    """What a group's file list says about a file's live copies, and whether it is a warning. A file only this
    node holds is the normal state of a fresh share, not a risk; a file no online node holds cannot be downloaded
    now, and says so."""
    if live <= 0:
        return "Offline: no node that holds it is online now", True
    if live == 1 and held_here:
        return "Only this node has it so far", False
    return f"{live} live cop{'y' if live == 1 else 'ies'}", False


def leave_confirm(group: GroupDetail, me: str | None, held: set[str], stopping: Sequence[str] = ()) -> str:
    """What the Leave button asks before it acts: what leaving ends for the others, not only for the user. An
    owner hands the group to the member who joined earliest (``members`` is in joining order); a file only this
    node holds is gone for the members until somebody shares it again; the user's running and paused downloads
    from the group (``stopping``) stop, what they fetched deleted."""
    gid = group.group_id
    others = [m.user_id for m in group.members if m.user_id != me]
    lost = f" {stopped_downloads_words(stopping, done=False)}" if stopping else ""
    if not others:
        return f"Leave {gid}? You are its only member, so the group is deleted.{lost}"
    words = [f"Leave {gid}?"]
    if group.my_role is GroupRole.OWNER:
        words.append(f"{others[0]} becomes its owner.")
    only_here = sorted((f.file_name for f in group.files if f.live_seeders <= 1 and f.file_name in held),
                       key=natural_key)
    if only_here:
        shown = names_list(only_here) if len(only_here) <= 3 else f"{', '.join(only_here[:3])} and " \
                                                                  f"{len(only_here) - 3} more"
        words.append(f"Your shares in it end, and the members lose {shown}: only this node has "
                     f"{'it' if len(only_here) == 1 else 'them'}.")
    else:
        words.append("Your shares in it end.")
    return " ".join(words) + lost


def stopped_downloads_words(names: Sequence[str], *, done: bool) -> str:
    """What leaving a group does to the user's running and paused downloads from it (``names``, at least one):
    asked beforehand, or (``done``) told after."""
    one = len(names) == 1
    subject = f"Your download of {names[0]}" if one else f"Your {len(names)} unfinished downloads from it"
    stops = "stopped" if done else "stops," if one else "stop,"
    return f"{subject} {stops} and what {'it' if one else 'they'} fetched {'was' if done else 'is'} deleted."


def upload_limit_words(rate: int | None) -> str:
    """The node's upload limit in words: 'Uploads: no limit' or 'Uploads limited to 125 MB/s'."""
    return "Uploads: no limit" if rate is None else f"Uploads limited to {format_rate(rate)}"


def upload_limit_notice(rate: int | None) -> str:
    """The one-line notice after the limit changed."""
    return "Uploads are no longer limited." if rate is None else f"Uploads are now limited to {format_rate(rate)}."


def rate_field(rate: int | None) -> str:
    """The limit as the form shows it for editing ('' for none); parse_rate reads it back."""
    return "" if rate is None else format_rate(rate)


def human_speed(bps: float) -> str:
    return f"{human_size(bps)}/s"


def human_eta(seconds: float | None) -> str:
    """'about 3 min left'; empty when unknown."""
    if seconds is None or seconds < 0 or math.isinf(seconds) or math.isnan(seconds):
        return ""
    if seconds < 60:
        return "less than a minute left"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min left"
    return f"about {round(minutes / 60)} h left"


def clear_notice(cleared: int, gone: int) -> str:
    """What "Clear completed" did: how many downloads left the list, and that their files stay where they were
    saved, but for the ``gone`` ones moved or deleted since."""
    if not cleared:
        return "No complete download to clear."
    if cleared == 1:
        where = "Its file was no longer where it was saved (moved or deleted)." if gone else \
            "Its file stays where it was saved."
        return f"Cleared 1 complete download from the list. {where}"
    where = "Their files stay where they were saved." if not gone else \
        "Their files were no longer where they were saved (moved or deleted)." if gone == cleared else \
        f"Their files stay where they were saved, but for {gone} no longer there (moved or deleted)."
    return f"Cleared {cleared} complete downloads from the list. {where}"


def wait_words(seconds: int) -> str:
    """How long to wait, as a refusal says it: '1 second', '30 seconds', '4 minutes' (rounded up)."""
    if seconds < 120:
        return "1 second" if seconds <= 1 else f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def ago(then: float | None, now: float) -> str:
    """'just now', '5 min ago', '3 h ago', '2 days ago', 'never'."""
    if then is None:
        return "never"
    delta = max(0.0, now - then)
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    if delta < 86400:
        return f"{int(delta // 3600)} h ago"
    days = int(delta // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def clock_time(then: float, now: float) -> str:
    """'10:42' today, '5 Dec 10:42' another day, in this machine's time zone (the node runs where its user is)."""
    at, today = time.localtime(then), time.localtime(now)
    if at[:3] == today[:3]:
        return time.strftime("%H:%M", at)
    return f"{at.tm_mday} {time.strftime('%b %H:%M', at)}"


def presence(online: bool, last_seen: float | None, now: float) -> str:
    """A member's line on the group page. No stamp at all means no session: the member is logged out (a
    tracker stamps every session it knows, and keeps the time of a clean stop)."""
    if online:
        return "Online now"
    if last_seen is None:
        return "Offline · logged out"
    return f"Offline · last seen {ago(last_seen, now)}"


def names_list(names: tuple[str, ...] | list[str]) -> str:
    """('alice', 'bob', 'carol') -> 'alice, bob and carol'."""
    items = list(names)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def peer_colour(user_id: str) -> int:
    """A member's colour index (CSS ``peer-N``), chosen from the name so it is the same on every row and page."""
    return int(hashlib.sha256(user_id.encode()).hexdigest(), 16) % PEER_COLOURS


def piece_cells(states: str, max_cells: int = PIECE_MAP_CELLS, sources: Mapping[int, str] | None = None) -> str:
    """Shrink a per-piece string ('d' done, 'f' in flight, '.' missing) to at most ``max_cells`` cells.

    A cell is done when all its pieces are, in flight when any is, else missing: a cell never claims
    more than is true. With ``sources`` (piece -> member who gave it), a done cell whose pieces all came from
    one member is that member's colour digit ('0'-'5', as ``peer_colour``): the map shows who gave what.
    """
    cells = []
    for lo, hi in cell_bounds(len(states), max_cells):
        chunk = states[lo:hi]
        if chunk and all(c == "d" for c in chunk):
            givers = {sources.get(k) for k in range(lo, hi)} if sources else {None}
            giver = givers.pop() if len(givers) == 1 else None
            cells.append(str(peer_colour(giver)) if giver else "d")
        elif "f" in chunk or ("d" in chunk and len(chunk) > 1):
            cells.append("f" if "f" in chunk else "p")
        else:
            cells.append(".")
    return "".join(cells)


def cell_runs(cells: str) -> list[tuple[str, int, int]]:
    """'ddff.' -> [('d', 0, 2), ('f', 2, 2), ('.', 4, 1)]: one SVG rect per run."""
    runs: list[tuple[str, int, int]] = []
    for i, c in enumerate(cells):
        if runs and runs[-1][0] == c:
            kind, start, length = runs[-1]
            runs[-1] = (kind, start, length + 1)
        else:
            runs.append((c, i, 1))
    return runs


def piece_map_label(states: str) -> str:
    done = states.count("d")
    flight = states.count("f")
    total = len(states)
    if total == 0:
        return "Piece map not available yet"
    return f"Piece map: {done} of {total} pieces done, {flight} in flight"


def download_key(d: DownloadView) -> str:
    """A stable DOM id for a download row (group and file names may hold any character)."""
    return row_key(d.group_id, d.file_name)


def row_key(group_id: str, file_name: str) -> str:
    raw = f"{group_id}\x00{file_name}".encode()
    return "dl-" + hashlib.sha256(raw).hexdigest()[:16]


def state_word(d: DownloadView) -> str:
    if d.state is DownloadState.COMPLETE:
        return "Complete"
    if d.state is DownloadState.FAILED:
        return "Waiting for members" if d.will_resume else "Failed"
    if d.state is DownloadState.PAUSED:
        return "Paused"
    if d.copying_from:
        return "Copying"
    if not d.peers:
        return "Waiting for members"  # as a failed download that resumes by itself says: the same wait
    return "Downloading"


def badge_tone(d: DownloadView) -> str:
    """The state badge's look: a failure the node will resume by itself is a wait ("W"), not an alarm ("F")."""
    return "W" if d.will_resume else d.state.value


def remove_word(d: DownloadView) -> str:
    """The label of a row's remove button: a running download is cancelled, a finished one leaves the list."""
    if d.state is DownloadState.COMPLETE:
        return "Remove from list"
    if d.state is DownloadState.FAILED:
        return "Remove"
    return "Cancel"  # running or paused: what it downloaded goes


def progress_text(d: DownloadView) -> str:
    """'3.1 MB of 10.0 MB (31%)'."""
    return f"{human_size(d.bytes_done)} of {human_size(d.size)} ({d.percent}%)"


# The command line's terse words for why a download stopped, as a page says them to someone who never ran a
# tracker: members, not seeders.
_REASON_WORDS = (("no seeder reachable", "no member who has it can be reached"),
                 ("no seeder", "no member who has it"))


def reason_words(reason: str) -> str:
    """A failed download's ``[F]`` reason as its row says it: a sentence, in the page's words."""
    for terse, plain in _REASON_WORDS:
        if reason.startswith(terse):
            reason = plain + reason[len(terse):]
            break
    return sentence(reason)


def detail_text(d: DownloadView) -> str:
    """The calm one-line status under the bar: speed, time left, sources."""
    if d.state is DownloadState.COMPLETE:
        return "Verified and saved to " + d.destination
    if d.state is DownloadState.FAILED:
        return reason_words(d.reason) if d.reason else "The download stopped"
    if d.state is DownloadState.PAUSED:
        return "Paused. The verified pieces are kept: Resume goes on from them."
    if d.copying_from:
        return "Copying the verified pieces of your own copy at " + d.copying_from
    if not d.peers:  # the last rate and time left would be stale words: nothing is arriving
        return "Looking for members who have it"
    # No rate measured yet (the first second of a download): no discouraging "0 B/s".
    parts = [human_speed(d.speed_bps)] if d.speed_bps > 0 else ["Starting" if d.bytes_done == 0 else
                                                                "Waiting for data"]
    eta = human_eta(d.eta_s)
    if eta:
        parts.append(eta)
    parts.append("from " + names_list(d.peers))
    text = " · ".join(parts)
    return text[:1].upper() + text[1:]


PEER_COLOURS = 6  # CSS classes peer-0 .. peer-5


def contributions(d: DownloadView) -> list[tuple[str, str, float, int]]:
    """Who gave how much, biggest first: (member, '3.1 MB', share of the file 0-1, colour index).

    Shares are of the file's size, so the bar's empty rest is what no member is counted for (pieces copied from
    a local copy, or received before a crash); only when the counts pass the size (pieces fetched twice) are they
    shares of the counts. A member keeps the same colour on every row (chosen from the name).
    """
    items = sorted(((who, n) for who, n in d.bytes_by_peer.items() if n > 0), key=lambda kv: (-kv[1], kv[0]))
    whole = max(d.size, sum(n for _, n in items)) or 1
    return [(who, human_size(n), n / whole, peer_colour(who)) for who, n in items]


def contributions_text(d: DownloadView) -> str:
    """'alice 3.1 MB, bob 1.0 MB': which member gave how much."""
    return ", ".join(f"{who} {size}" for who, size, _, _ in contributions(d))


def download_json(d: DownloadView, save_url: str) -> dict[str, object]:
    """What the live stream sends for one row: the same words the page rendered."""
    states = d.piece_states
    return {
        "key": download_key(d),
        "group": d.group_id,
        "name": d.file_name,
        "state": d.state.value,
        "state_text": state_word(d),
        "tone": badge_tone(d),
        "percent": d.percent,
        "progress_text": progress_text(d),
        "detail_text": detail_text(d),
        "given_text": contributions_text(d),
        "given": [[who, size, round(share, 4), colour] for who, size, share, colour in contributions(d)],
        "cells": piece_cells(states, sources=d.piece_sources),
        "map_label": piece_map_label(states),
        "save_url": save_url if d.state is DownloadState.COMPLETE else "",
        "retry": d.state is DownloadState.FAILED,
        "pause": d.state is DownloadState.RUNNING,
        "resume": d.state is DownloadState.PAUSED,
        "remove_word": remove_word(d),
        "kept": kept_words(d),
        "announce": announcement(d),
    }


def brief_json(d: DownloadView) -> dict[str, object]:
    """A row the page does not list (another view, or no download list): enough to count it by state and to
    announce and notify its end, without the piece map that makes most of a full row."""
    return {"key": download_key(d), "group": d.group_id, "name": d.file_name, "state": d.state.value,
            "announce": announcement(d)}


def tracker_words(node: NodeStatus) -> str:
    """The footer's word on the tracker serving this node (the live stream sends it again when it changes)."""
    if not node.tracker:
        return "No tracker reachable right now."
    return f"Tracker {node.tracker}{' (failed over)' if node.failed_over else ''}."


def tracker_detail(node: NodeStatus) -> tuple[str, str]:
    """The home page's tracker line as (dot, words); the live stream sends it again when it changes. A failover
    is told as what happened, not as what is true now: the first tracker may be back, as a secondary."""
    if not node.tracker:
        return "off", "No tracker answers right now. The node keeps trying; shares resume once one is back."
    if node.failed_over:
        return "warn", (f"Failed over: using tracker {node.tracker_rank} at {node.tracker}, which the node moved to "
                        f"when the trackers before it in the list did not answer.")
    return "on", f"Connected to tracker {node.tracker_rank} at {node.tracker}, the first in the list."


def share_place(path: str, data_dir: Path) -> str:
    """Where a share's file is, as a page shows it: the path, or for a browser upload the node's own copy."""
    if is_upload_copy(path, data_dir):
        return "Uploaded in the browser: this node keeps the copy it shares, until you stop sharing it."
    return path


def kept_words(d: DownloadView) -> str:
    """What removing a failed or paused download deletes ('2.1 MB'), or "" when it kept nothing."""
    kept = d.state in (DownloadState.FAILED, DownloadState.PAUSED) and d.bytes_done > 0
    return human_size(d.bytes_done) if kept else ""


def rejoin_words(gid: str, d: DownloadView | None) -> str:
    """What a download its user may no longer fetch can still become: resumed from what it kept, or fetched anew
    (leaving a group deletes what its unfinished downloads kept)."""
    return f"Join {gid} again to {'resume' if d is not None and kept_words(d) else 'download'} it, or remove it."


def announcement(d: DownloadView) -> str:
    """What a screen reader hears when the download ends while the page is open ("" while it runs)."""
    if d.state is DownloadState.COMPLETE:
        return f"{d.file_name} from {d.group_id} is complete."
    if d.state is DownloadState.FAILED:
        verb = "stopped for now" if d.will_resume else "failed"  # "paused" is what the user does (Pause)
        return f"The download of {d.file_name} from {d.group_id} {verb}: {reason_words(d.reason or 'it stopped')}"
    return ""


def ordered(downloads: list[DownloadView]) -> list[DownloadView]:
    """Running first, then the newest: what a user is waiting for sits on top."""
    return sorted(downloads, key=lambda d: (d.state is not DownloadState.RUNNING, -d.started_at, d.file_name))
