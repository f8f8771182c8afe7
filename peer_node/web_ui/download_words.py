"""Pure wording for one download row: its state word and sentence, the piece map, who gave what, and the row as
the live event stream sends it.

Plain functions of a ``DownloadView`` (no clock, no I/O), shared by the pages' templates (as ``dl``) and the live
stream, so a row says the same whether it was rendered or updated; the general words (sizes, speeds, times,
errors) are in ``format``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from peer_node.piece_sources import MAP_CELLS, cell_bounds
from peer_node.units import human_size
from peer_node.views import DownloadState, DownloadView
from peer_node.web_ui.format import human_eta, human_speed, names_list, sentence

PIECE_MAP_CELLS = MAP_CELLS  # a map never has more cells than this, whatever the piece count
PEER_COLOURS = 6  # CSS classes peer-0 .. peer-5


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
    if d.checking:
        return "Checking"
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
    if d.checking:
        return f"Checking the file already at {d.destination}: if it is whole, it is kept, not downloaded again"
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
