"""The one command dispatcher behind ``POST /cmd`` and the console prompt.

Theory of operation: a command line is split by shell rules (``shlex``), looked up in one table, checked for its
number of arguments, run against NodeService, and its result rendered exactly as CONTRACT.md says (scripts parse
these forms). Refusals are ``wire.errors`` classes: the caller renders them as ``error: <message>`` with the
class's HTTP status. Parsing and formatting are pure functions, so they are tested without a node.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from peer_node.download_views import left_behind, still_shared
from peer_node.hashing import Progress
from peer_node.rates import format_rate, parse_rate
from peer_node.sensitive import why_private
from peer_node.views import DownloadState, DownloadView, FileListing, GroupSummary, ShareEnd
from wire.errors import BadInput, TooLarge

if TYPE_CHECKING:
    from peer_node.service import NodeService

MAX_LINE_BYTES = 16 * 1024


class Scope(Enum):
    """Which groups a command's ``group_id`` means, and so what Tab offers there at the console (and, after it,
    for ``file_name``, or ``user_id`` under OWNER: the requests to join): ``console_completion``."""

    MEMBER = "member"  # the groups the user is in; their files as the tracker lists them
    OWNER = "owner"  # the groups the user owns; their requests to join
    OUTSIDE = "outside"  # the groups the user is not in nor asked to join
    JOINED = "joined"  # in, or asked to join (leaving withdraws a request)
    SHARES = "shares"  # the groups and files this node shares
    DOWNLOADS = "downloads"  # the groups and files of this node's downloads
    NONE = "none"  # a new id, or no group at all: nothing to offer


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: tuple[str, ...]
    summary: str
    scope: Scope = Scope.NONE

    @property
    def usage(self) -> str:
        return " ".join([self.name, *(f"<{a}>" for a in self.args)])


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("create_user", ("user_id", "passwd"), "register a user"),
    Command("login", ("user_id", "passwd"), "log this node in"),
    Command("logout", (), "log out; this node stops serving until the next login"),
    Command("create_group", ("group_id",), "create a group; you become its owner"),
    Command("join_group", ("group_id",), "ask to join a group; its owner decides", Scope.OUTSIDE),
    Command("leave_group", ("group_id",), "leave a group (or withdraw a request to join it); your shares in it end, "
            "your running and paused downloads from it stop and their data is deleted", Scope.JOINED),
    Command("list_groups", (), "every group: id, owner, members, your role"),
    Command("list_requests", ("group_id",), "owner only: pending user ids", Scope.OWNER),
    Command("accept_request", ("group_id", "user_id"), "owner only: admit a pending user", Scope.OWNER),
    Command("reject_request", ("group_id", "user_id"), "owner only: decline a pending user", Scope.OWNER),
    Command("upload_file", ("file_path", "group_id"), "share a local file in place under its base name",
            Scope.MEMBER),
    Command("list_files", ("group_id",), "files of a group: name, size, sha256, live seeders", Scope.MEMBER),
    Command("download_file", ("group_id", "file_name", "destination_path"), "download a file in the background",
            Scope.MEMBER),
    Command("show_downloads", (), "every download: [D] percent, [C] complete, [F] failed"),
    Command("stop_share", ("group_id", "file_name"), "stop serving a file", Scope.SHARES),
    Command("remove_download", ("group_id", "file_name"),
            "cancel a download (its partial data is deleted), or clear a failed or finished one from the list",
            Scope.DOWNLOADS),
    Command("pause_download", ("group_id", "file_name"),
            "pause a running download; its verified pieces are kept (show_downloads still shows it [D])",
            Scope.DOWNLOADS),
    Command("resume_download", ("group_id", "file_name"), "resume a paused download from its verified pieces",
            Scope.DOWNLOADS),
    Command("set_upload_limit", ("rate",),
            "cap what this node uploads in all, e.g. 125M (1 Gbit/s) or 500kB/s; 0 for no limit"),
    Command("set_download_limit", ("rate",),
            "cap what this node downloads in all, e.g. 10M (80 Mbit/s) or 500kB/s; 0 for no limit"),
    Command("help", (), "this list"),
)}


def parse_line(line: str) -> tuple[Command, list[str]]:
    """Split one command line and check it against the table; raise BadInput on anything wrong."""
    if len(line.encode("utf-8", "surrogateescape")) > MAX_LINE_BYTES:
        raise TooLarge(f"command line too long (over {MAX_LINE_BYTES} bytes)")  # the contract's 413
    line = line.strip()
    if "\n" in line or "\r" in line:
        raise BadInput("one command at a time, on one line")
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise BadInput(f"cannot split the command line: {exc}") from None
    if not words:
        raise BadInput("empty command; try help")
    cmd = COMMANDS.get(words[0])
    if cmd is None:
        raise BadInput(f"unknown command {words[0][:64]!r}; try help")
    args = words[1:]
    if len(args) != len(cmd.args):
        raise BadInput(f"usage: {cmd.usage}")
    return cmd, args


# --- output forms (CONTRACT.md)
def lines(items: list[str]) -> str:
    """A listing: one item a line; nothing at all for an empty listing."""
    return "".join(item + "\n" for item in items)


def format_group(g: GroupSummary) -> str:
    return f"{g.group_id}\t{g.owner}\t{g.member_count}\t{g.my_role.value}"


def format_file(f: FileListing) -> str:
    return f"{f.file_name}\t{f.size}\t{f.sha256}\t{f.live_seeders}"


def format_download(d: DownloadView) -> str:
    if d.state is DownloadState.COMPLETE:
        return f"[C] {d.group_id} {d.file_name}"
    if d.state is DownloadState.FAILED:
        reason = " ".join(d.reason.split()) or "failed"
        return f"[F] {d.group_id} {d.file_name} {reason}"
    return f"[D] {d.group_id} {d.file_name} {max(0, min(100, d.percent))}%"  # paused too: the contract's forms


HELP_WIDTH = max(len(c.usage) for c in COMMANDS.values())


def help_text() -> str:
    return lines([f"{c.usage.ljust(HELP_WIDTH)}  {c.summary}" for c in COMMANDS.values()])


Handler = Callable[["NodeService", list[str], "Progress | None"], Awaitable[str]]


async def _create_user(s: NodeService, a: list[str], _p: Progress | None) -> str:
    await s.create_user(a[0], a[1])
    return f"user {a[0]} created\n"


async def _login(s: NodeService, a: list[str], _p: Progress | None) -> str:
    await s.login(a[0], a[1])
    return f"logged in as {a[0]}\n"


async def _logout(s: NodeService, a: list[str], _p: Progress | None) -> str:
    await s.logout()
    return "logged out\n"


async def _create_group(s: NodeService, a: list[str], _p: Progress | None) -> str:
    await s.create_group(a[0])
    return f"group {a[0]} created\n"


async def _join_group(s: NodeService, a: list[str], _p: Progress | None) -> str:
    await s.join_group(a[0])
    return f"asked to join {a[0]}; its owner decides\n"


async def _leave_group(s: NodeService, a: list[str], _p: Progress | None) -> str:
    outcome = await s.leave_group(a[0])
    if outcome.withdrawn:
        return f"withdrew your request to join {a[0]}\n"
    if outcome.deleted:
        return f"left {a[0]} (you were its last member: the group is deleted)\n"
    if outcome.new_owner:
        return f"left {a[0]} ({outcome.new_owner} owns it now)\n"
    return f"left {a[0]}\n"


async def _list_groups(s: NodeService, a: list[str], _p: Progress | None) -> str:
    return lines([format_group(g) for g in await s.list_groups()])


async def _list_requests(s: NodeService, a: list[str], _p: Progress | None) -> str:
    return lines(await s.list_requests(a[0]))


async def _accept(s: NodeService, a: list[str], _p: Progress | None) -> str:
    await s.accept_request(a[0], a[1])
    return f"{a[1]} is now a member of {a[0]}\n"


async def _reject(s: NodeService, a: list[str], _p: Progress | None) -> str:
    await s.reject_request(a[0], a[1])
    return f"declined {a[1]}'s request to join {a[0]}\n"  # the browser's word too


async def _upload(s: NodeService, a: list[str], p: Progress | None) -> str:
    f = await s.upload_file(a[0], a[1], p)
    out = f"shared {f.file_name} in {f.group_id}: {f.size} byte{'' if f.size == 1 else 's'}, sha256 {f.sha256}\n"
    why = why_private(f.path, str(s.config.data_dir))
    if why is not None:  # shared all the same (a script asked for it), but the user should know
        out += (f"warning: {f.file_name} looks private ({why}): every member of {f.group_id} can now fetch it; "
                f"stop_share {f.group_id} {shlex.quote(f.file_name)} to stop\n")
    return out


async def _list_files(s: NodeService, a: list[str], _p: Progress | None) -> str:
    return lines([format_file(f) for f in await s.list_files(a[0])])


async def _download(s: NodeService, a: list[str], _p: Progress | None) -> str:
    d = await s.download_file(a[0], a[1], a[2])
    return f"downloading {d.file_name} from {d.group_id} to {d.destination}\n"


async def _show_downloads(s: NodeService, a: list[str], _p: Progress | None) -> str:
    return lines([format_download(d) for d in s.downloads()])


async def _stop_share(s: NodeService, a: list[str], _p: Progress | None) -> str:
    return f"stopped sharing {a[1]} in {a[0]}{SHARE_END_WORDS[await s.stop_share(a[0], a[1])]}\n"


SHARE_END_WORDS = {
    ShareEnd.TOLD: "",
    ShareEnd.NO_TRACKER: " (no tracker answers: the group lists it as offline)",
    ShareEnd.UNKNOWN_THERE: " on this node (the tracker had it as not shared by you: ended from another node)",
    ShareEnd.NOT_MEMBER: " on this node (you are no longer a member of the group)",
}


async def _remove_download(s: NodeService, a: list[str], _p: Progress | None) -> str:
    removed = await s.remove_download(a[0], a[1])
    present = await asyncio.to_thread(os.path.lexists, removed.destination)
    return removal_text(removed, still_shared(s.shares, removed), present)


def removal_text(d: DownloadView, shared: bool, present: bool) -> str:
    """What ``remove_download`` did, by the state the download was in."""
    if d.state is DownloadState.COMPLETE:
        how = " (stop_share ends that)" if shared and present else ""
        return f"removed {d.file_name} of {d.group_id} from the list; {left_behind(d, shared, present)}{how}\n"
    if d.state is DownloadState.FAILED:
        return f"removed the failed download of {d.file_name} from {d.group_id}; its partial data is deleted\n"
    if d.state is DownloadState.PAUSED:
        return f"removed the paused download of {d.file_name} from {d.group_id}; its partial data is deleted\n"
    return f"cancelled the download of {d.file_name} from {d.group_id}; its partial data is deleted\n"


async def _pause_download(s: NodeService, a: list[str], _p: Progress | None) -> str:
    d = await s.pause_download(a[0], a[1])
    return f"paused the download of {d.file_name} from {d.group_id} at {d.percent}%; resume_download goes on\n"


async def _resume_download(s: NodeService, a: list[str], _p: Progress | None) -> str:
    d = await s.resume_download(a[0], a[1])
    if d.will_resume:  # nobody shares it now: it waits for a member who has it
        return f"the download of {d.file_name} from {d.group_id} waits at {d.percent}%: {d.reason}\n"
    return f"resuming the download of {d.file_name} from {d.group_id} to {d.destination}\n"


async def _set_upload_limit(s: NodeService, a: list[str], _p: Progress | None) -> str:
    rate = parse_rate(a[0])
    await s.set_upload_limit(rate)
    return upload_limit_text(rate)


def upload_limit_text(rate: int | None) -> str:
    if rate is None:
        return "upload limit removed: this node uploads as fast as its peers take\n"
    return f"upload limit set to {format_rate(rate)}\n"


async def _set_download_limit(s: NodeService, a: list[str], _p: Progress | None) -> str:
    rate = parse_rate(a[0])
    await s.set_download_limit(rate)
    return download_limit_text(rate)


def download_limit_text(rate: int | None) -> str:
    if rate is None:
        return "download limit removed: this node downloads as fast as its peers send\n"
    return f"download limit set to {format_rate(rate)}\n"


async def _help(s: NodeService, a: list[str], _p: Progress | None) -> str:
    return help_text()


HANDLERS: dict[str, Handler] = {
    "create_user": _create_user, "login": _login, "logout": _logout, "create_group": _create_group,
    "join_group": _join_group, "leave_group": _leave_group, "list_groups": _list_groups,
    "list_requests": _list_requests, "accept_request": _accept, "reject_request": _reject,
    "upload_file": _upload, "list_files": _list_files, "download_file": _download,
    "show_downloads": _show_downloads, "stop_share": _stop_share, "remove_download": _remove_download,
    "pause_download": _pause_download, "resume_download": _resume_download, "set_upload_limit": _set_upload_limit,
    "set_download_limit": _set_download_limit, "help": _help,
}
assert HANDLERS.keys() == COMMANDS.keys()


async def run_command(service: NodeService, line: str, progress: Progress | None = None) -> str:
    """Run one command line; return its output (possibly empty) or raise a GroupShareError."""
    cmd, args = parse_line(line)
    return await HANDLERS[cmd.name](service, args, progress)
