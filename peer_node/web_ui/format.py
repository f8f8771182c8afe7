"""Pure wording for the browser UI: sizes, speeds, times, errors, groups and the tracker line.

Everything here is a plain function of its arguments (``now`` is passed in), so the pages and the live
event stream say exactly the same thing and the wording is unit-tested without a browser. A download row's own
words (its state, sentence, piece map and live record) are in ``download_words``.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from peer_node.natural_order import natural_key
from peer_node.rates import format_rate
from peer_node.units import human_size
from peer_node.upload_copies import is_upload_copy
from peer_node.views import GroupDetail, GroupRole, NodeStatus
from wire.names import ID_RULE as ID_RULE  # for the templates: fmt.ID_RULE


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


def download_limit_words(rate: int | None) -> str:
    """The node's download limit in words, as the upload limit's: 'Downloads: no limit' or 'Downloads limited to
    10 MB/s'."""
    return "Downloads: no limit" if rate is None else f"Downloads limited to {format_rate(rate)}"


def download_limit_notice(rate: int | None) -> str:
    return "Downloads are no longer limited." if rate is None else f"Downloads are now limited to {format_rate(rate)}."


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


def tracker_words(node: NodeStatus) -> str:
    """The footer's word on the tracker serving this node (the live stream sends it again when it changes)."""
    if not node.tracker:
        return "No tracker reachable right now."
    return f"Tracker {node.tracker}{' (failed over)' if node.failed_over else ''}."


def pacing_words(node: NodeStatus) -> str:
    """What a page whose form is being sent says while the node waits out the tracker's "slow down" (it sends the
    request again by itself, for up to 20 s: ``tracker_patience``); "" when it waits for nothing."""
    if node.paced_for is None:
        return ""
    return (f"The tracker asked this node to wait: your request is sent again by itself in "
            f"{max(1, math.ceil(node.paced_for))} s.")


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
