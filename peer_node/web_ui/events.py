"""Live download progress as Server-Sent Events (GET /downloads/events).

One long-lived response per open page: the handler looks at the node's downloads (and its limits, which
``/cmd`` or another tab may change) every ``event_poll_s`` (0.4 s) and sends a ``downloads`` event only when
some words changed, with only those (``live_rows``), so a change reaches the page
within a second while an idle page costs no request at all (a comment every 15 s keeps proxies from
closing the stream). The browser reconnects by itself (``retry``). Shutdown sets ``stopping`` so open
streams end at once instead of holding the node's exit.

The stream also brings group news (``groups_poll`` says when the node asks the tracker): each owner's answer to
the user's request to join, settled while the page is open (a ``joins`` event), and new requests to join the
groups the user owns (a ``requests`` event, with every owned group's count for the navigation's badge). The page
shows both as a notice: nobody has to reload to hear back. A request notice whose requests are all gone meanwhile
(withdrawn, or answered in another tab or by ``/cmd``) says so instead of leading to an empty list.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass

from aiohttp import web

from peer_node.groups_poll import new_requests, requests_text
from peer_node.join_answers import join_answers_text
from peer_node.views import DownloadView, NodeStatus
from peer_node.web_ui.download_words import brief_json, download_json, ordered
from peer_node.web_ui.format import (
    download_limit_words,
    pacing_words,
    rate_field,
    tracker_detail,
    tracker_words,
    upload_limit_words,
)
from peer_node.web_ui.live_rows import LiveRows
from peer_node.web_ui.pages import save_url, view_states
from peer_node.web_ui.ports import UiService
from peer_node.web_ui.state import current_user, ui


def downloads_round(live: LiveRows, downloads: list[DownloadView], node: NodeStatus, *, full: str) -> str | None:
    """This round's ``downloads`` message for one page (``live_rows``), or None when nothing changed for it.
    ``full``: the states whose rows the page lists (every word of them); the others go as brief rows, enough to
    count them and announce an end."""
    rows = []
    for d in ordered(downloads):
        row = download_json(d, save_url(d)) if d.state.value in full else brief_json(d)
        rows.append((str(row["key"]), json.dumps(row, separators=(",", ":"))))
    return live.update(rows, {"uploads": upload_limit_words(node.upload_limit),
                              "upload_rate": rate_field(node.upload_limit),
                              "downloads_limit": download_limit_words(node.download_limit),
                              "download_rate": rate_field(node.download_limit), "tracker": tracker_words(node),
                              "tracker_detail": tracker_detail(node)})


@dataclass
class _Heard:
    """The group news this page has been sent: answers up to ``joins_seq``, and the requests last seen (counts,
    and who asks where the tracker names them: equal counts may be other people)."""

    joins_seq: int | None = None
    pending: dict[str, int] | None = None
    requesters: dict[str, tuple[str, ...]] | None = None


async def _send_group_news(service: UiService, response: web.StreamResponse, heard: _Heard) -> None:
    service.poll_groups()
    answers, heard.joins_seq = service.join_answers_since(heard.joins_seq)
    if answers:
        body = json.dumps({"text": join_answers_text(answers),
                           "answers": [{"group": a.group_id, "answer": a.answer.value} for a in answers]})
        await response.write(f"event: joins\ndata: {body}\n\n".encode())
        service.join_answers_shown(heard.joins_seq)  # only now: a write to a closed page raises first
    pending, requesters = service.pending_requests(), service.requesters()
    if pending is None or (pending, requesters) == (heard.pending, heard.requesters):
        return
    new = new_requests(heard.pending, pending, heard.requesters, requesters) if heard.pending is not None else {}
    heard.pending, heard.requesters = pending, requesters
    body = json.dumps({"total": sum(pending.values()), "pending": pending, "requesters": requesters, "new": new,
                       "text": requests_text(new)})
    await response.write(f"event: requests\ndata: {body}\n\n".encode())


async def pacing(request: web.Request) -> web.Response:
    """GET /pacing: whether the node waits out a tracker's "slow down" now, in words ("" when not). Asked each
    second by a page while one of its forms is being sent (app.js), also before login (a login the tracker paces
    is the most common wait), so it needs no session: it says nothing about any user."""
    return web.json_response({"words": pacing_words(ui(request).service.status())},
                             headers={"Cache-Control": "no-store"})


async def stream(request: web.Request) -> web.StreamResponse:
    if await current_user(request) is None:
        raise web.HTTPUnauthorized(text="Log in to see downloads.\n")
    state = ui(request)
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    })
    try:
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
    except ConnectionError:  # the page went before its stream opened (a redirect right after a form's answer)
        return response
    # The downloads page names its view (``?show=``): only that view's rows come whole; a page without download
    # rows asks for brief ones (``?rows=brief``).
    live, full = LiveRows(), "" if request.query.get("rows") == "brief" else view_states(request.query.get("show", ""))
    last_write = time.monotonic()
    heard = _Heard()
    stop = asyncio.ensure_future(state.stopping.wait())
    try:
        while not state.stopping.is_set():
            if request.transport is None or request.transport.is_closing():
                break  # the page was closed: aiohttp lets this handler run on, and it must not take news for it
            if await current_user(request) is None:
                await response.write(b"event: logout\ndata: {}\n\n")
                break
            await _send_group_news(state.service, response, heard)
            body = downloads_round(live, state.service.downloads(), state.service.status(), full=full)
            now = time.monotonic()
            if body is not None:
                await response.write(f"event: downloads\ndata: {body}\n\n".encode())
                last_write = now
            elif now - last_write >= state.keepalive_s:
                await response.write(b": keep-alive\n\n")
                last_write = now
            await asyncio.wait({stop}, timeout=state.event_poll_s)
    except (ConnectionResetError, ConnectionError):
        pass  # the page was closed
    finally:
        stop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stop
    return response
