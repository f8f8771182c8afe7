"""What the console says by itself, between commands: a download finished or failed, an owner's answer to a request
to join, new requests to join the user's groups, and the node's warnings. Each is one line of its own under the
prompt's line, a fresh prompt after it (``Console.say``), so news never runs into what the user types.

``news_of_downloads`` and ``ConsoleNews.round`` are the pure part (what changed since the last look, in words);
``watch`` looks once a second on the event loop, as an open browser page does (``web_ui/events.py``), and marks the
answers it showed as shown, so the next page load does not tell them again. The same look hands Tab completion
this node's shares and downloads (``NodeService.note_local_names``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from peer_node.groups_poll import new_requests, requests_text
from peer_node.join_answers import join_answers_text
from peer_node.views import DownloadState, DownloadView
from wire.errors import GroupShareError

if TYPE_CHECKING:
    from peer_node.service import NodeService

LOOK_EVERY_S = 1.0
Key = tuple[str, str]


def news_of_downloads(before: Mapping[Key, DownloadState] | None, now: list[DownloadView]) -> list[str]:
    """A line for each download that finished or failed since ``before`` (the states last seen; None at the first
    look, which tells nothing: the old ones are not news). One started and ended between two looks counts too."""
    lines: list[str] = []
    if before is None:
        return lines
    for d in now:
        if before.get((d.group_id, d.file_name)) is d.state:
            continue
        if d.state is DownloadState.COMPLETE:
            lines.append(f"[C] {d.group_id} {d.file_name}: download complete, saved as {d.destination}")
        elif d.state is DownloadState.FAILED:
            lines.append(f"[F] {d.group_id} {d.file_name}: download failed: {d.reason}")
    return lines


@dataclass
class ConsoleNews:
    """What this console has told so far."""

    states: dict[Key, DownloadState] | None = None
    joins_seq: int | None = None
    pending: dict[str, int] | None = None
    requesters: dict[str, tuple[str, ...]] | None = None  # who asked, by name: equal counts may be other people

    def round(self, service: NodeService) -> list[str]:
        if service.state.session is None:  # logged out: the next login's downloads are a first look again
            self.states = None
            return []
        downloads = service.downloads()
        lines = news_of_downloads(self.states, downloads)
        self.states = {(d.group_id, d.file_name): d.state for d in downloads}
        service.poll_groups()
        answers, self.joins_seq = service.join_answers_since(self.joins_seq)
        if answers:
            lines.append(join_answers_text(answers))
            service.join_answers_shown(self.joins_seq)
        pending, requesters = service.pending_requests(), service.requesters()
        if pending is not None and (pending, requesters) != (self.pending, self.requesters):
            if self.pending is not None and (new := new_requests(self.pending, pending, self.requesters,
                                                                 requesters)):
                which = next(iter(new)) if len(new) == 1 else "<group_id>"
                lines.append(f"{requests_text(new)} Type list_requests {which} to see who.")
            self.pending, self.requesters = pending, requesters
        return lines


async def watch(service: NodeService, say: Callable[[str], None]) -> None:
    """Tell the news as it comes, until cancelled."""
    news = ConsoleNews()
    while True:
        try:
            service.note_local_names()  # the same look keeps Tab's shares and downloads fresh (completion_cache)
            for line in news.round(service):
                say(line)
        except GroupShareError:  # logged out meanwhile: nothing to tell until the next login
            news = ConsoleNews()
        await asyncio.sleep(LOOK_EVERY_S)


class ConsoleLogHandler(logging.Handler):
    """The node's warnings, as news lines (a log line written over the prompt left the user's
    typing on a line of its own, the prompt gone)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self.say = say
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s", datefmt="%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.say(self.format(record))
        except Exception:  # the logging contract: a handler never raises into the code that logged
            self.handleError(record)
