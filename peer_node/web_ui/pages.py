"""The pages (GET only): dashboard, all groups, one group, downloads. Handlers gather views and render.

Each page also has a ``*_context`` builder so a failed form can re-render the same page with the error
next to the form that caused it (see forms.py, group_actions.py, download_actions.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from aiohttp_session import get_session

from peer_node.natural_order import natural_key
from peer_node.views import DownloadState, DownloadView, GroupRole, GroupSummary, SharedFile
from peer_node.web_ui.download_words import ordered
from peer_node.web_ui.format import fold
from peer_node.web_ui.paging import PAGE_ROWS, page_of
from peer_node.web_ui.state import render, require_user, see_other, ui
from wire.errors import BadInput, NotFound, Unavailable
from wire.names import check_id

# The row the live script clones when a download appears while the page is open.
TEMPLATE_ROW = DownloadView(group_id="", file_name="", destination="", state=DownloadState.RUNNING, size=0,
                            bytes_done=0, percent=0, speed_bps=0.0, eta_s=None, peers=())


def save_url(d: DownloadView) -> str:
    return "/downloads/save?" + urlencode({"group": d.group_id, "name": d.file_name})


async def download_folder(request: web.Request) -> str:
    session = await get_session(request)
    chosen = session.get("download_dir")
    return chosen if isinstance(chosen, str) and chosen else str(ui(request).default_download_dir)


async def dashboard(request: web.Request) -> web.StreamResponse:
    await require_user(request)
    service = ui(request).service
    groups: list[GroupSummary] | None
    try:
        groups = sorted((g for g in await service.list_groups() if g.my_role is not GroupRole.NONE),
                        key=lambda g: natural_key(g.group_id))
    except Unavailable:
        groups = None  # the tracker is away (failover under way): the local parts of the page still help
    downloads = ordered(service.downloads())
    shares = sorted(service.shares(), key=lambda s: (natural_key(s.group_id), natural_key(s.file_name)))
    return await render(request, "dashboard.html", {
        "groups": groups, "downloads": downloads, "shares": shares, "save_url": save_url,
        "template_row": TEMPLATE_ROW, "share_groups": shares_by_group(shares) if len(shares) > LIST_FROM else None,
        "groups_shown": LIST_FROM,
    }, nav="home")


def shares_by_group(shares: list[SharedFile]) -> list[tuple[str, int, int, int]]:
    """(group id, files, bytes, files unavailable) of each group this node shares in: the home page's summary once
    the files would make a long list (a lab shares hundreds; each group's page lists its own)."""
    groups: dict[str, tuple[int, int, int]] = {}
    for s in shares:
        count, size, unavailable = groups.get(s.group_id, (0, 0, 0))
        groups[s.group_id] = (count + 1, size + s.size, unavailable + (s.unavailable is not None))
    return [(gid, *groups[gid]) for gid in sorted(groups, key=natural_key)]


FILTER_FROM = 8  # more groups (or files) than this and the list gets a filter box (a class has dozens)
LIST_FROM = 8  # more than this and the home page sums up (shares by group) or shows the first (groups)


async def groups_context(request: web.Request) -> dict[str, Any]:
    groups = sorted(await ui(request).service.list_groups(), key=lambda g: natural_key(g.group_id))
    query = filter_query(request)
    # Every group is on the page, the ones the query leaves out hidden: the script then filters as the user types
    # over all of them, and without script the form's GET does the same.
    return {"groups": groups, "shown": {g.group_id for g in groups if matches(query, g.group_id, g.owner)},
            "q": query, "show_filter": len(groups) > FILTER_FROM or bool(query), "errors": {}, "values": {}}


def case_twin(gid: str, existing: list[str]) -> str | None:
    """The one existing id that differs from ``gid`` only in case (the tracker allows no two such ids)."""
    key = gid.casefold()
    return next((other for other in existing if other != gid and other.casefold() == key), None)


def filter_query(request: web.Request) -> str:
    return request.query.get("q", "").strip()[:64]


def matches(query: str, *fields: str) -> bool:
    """Whether every word of ``query`` is in the fields, in any order and ignoring case: "03 lecture" finds
    Lecture-03.pdf, as a search box does (the filter box without script; app.js does the same, over ``fold``)."""
    text = fold(" ".join(fields))
    return all(word in text for word in fold(query).split())


async def groups_context_or_offline(request: web.Request) -> dict[str, Any]:
    """``groups_context``, or with the tracker away the page that says so in place of the list (``offline``), the
    rest of it still there."""
    try:
        return await groups_context(request)
    except Unavailable:
        return {"groups": [], "shown": set(), "q": "", "show_filter": False, "offline": True, "errors": {},
                "values": {}}


async def groups_page(request: web.Request) -> web.StreamResponse:
    await require_user(request)
    context = await groups_context_or_offline(request)
    return await render(request, "groups.html", context, status=503 if context.get("offline") else 200, nav="groups")


def group_id_from(request: web.Request) -> str:
    raw = request.match_info["group_id"]
    try:
        return check_id(raw, "group id")
    except BadInput:
        raise NotFound(f"There is no group named {raw}.") from None


async def group_context(request: web.Request, gid: str, holding: str | None = None) -> dict[str, Any]:
    """The group page's context. A long file list comes in pages (``paging``): the one asked for, or the page of
    file ``holding`` (a refused form's row: its error shows next to it)."""
    service = ui(request).service
    detail = await service.group_detail(gid)
    member = detail.my_role in (GroupRole.OWNER, GroupRole.MEMBER)
    my_shares = sorted((s for s in service.shares() if s.group_id == gid),
                       key=lambda s: natural_key(s.file_name)) if member else []
    # A file downloading or paused here has its download's link instead of Download (a paused one is resumed)
    under_way = {d.file_name: d.state for d in service.downloads()
                 if d.group_id == gid and d.state in (DownloadState.RUNNING, DownloadState.PAUSED)} if member else {}
    query = filter_query(request)
    # The name itself breaks natural_key's ties ("a01", "a1"): a page's rows must not depend on the order files came.
    files = sorted(detail.files, key=lambda f: (natural_key(f.file_name), f.file_name))
    matching = [f for f in files if matches(query, f.file_name)]
    paged = len(files) > PAGE_ROWS
    held_at = next((i for i, f in enumerate(matching) if f.file_name == holding), None)
    page = page_of(len(matching), request.query.get("page"), holding=held_at)
    return {
        "group": detail,
        "files": files,
        # Up to PAGE_ROWS, every file is on the page, those the query leaves out hidden (the script filters them as
        # the user types); past it, one page of the matching ones, and the filter runs here.
        "rows": matching[page.start:page.stop] if paged else files,
        "paged": paged,
        "files_page": page,
        "files_page_url": lambda number: f"/groups/{quote(gid, safe='')}?" + urlencode(
            {"q": query, "page": number} if query else {"page": number}),
        "q": query,
        "shown": {f.file_name for f in matching},
        "show_filter": len(detail.files) > FILTER_FROM or bool(query),
        "is_member": member,
        "members": sorted(detail.members, key=lambda m: (not m.is_owner, not m.online, m.user_id.lower())),
        "online_count": sum(1 for m in detail.members if m.online),
        "my_shares": my_shares,
        "held": {s.file_name for s in my_shares if s.unavailable is None},  # one not served now is not a copy
        "running": {name for name, state in under_way.items() if state is DownloadState.RUNNING},
        "paused": {name for name, state in under_way.items() if state is DownloadState.PAUSED},
        "stopping": unfinished_from(service.downloads(), gid) if member else [],
        "download_dir": await download_folder(request),
        "now": service.tracker_time(),  # members' "last seen" is the trackers' time: read against theirs
        "errors": {},
        "values": {},
    }


async def group_page(request: web.Request) -> web.StreamResponse:
    await require_user(request)
    gid = group_id_from(request)
    try:
        context = await group_context(request, gid)
    except NotFound:
        # Ids differing only in case are refused, so /groups/LAB can only mean lab: go there, as a person expects.
        twin = case_twin(gid, [g.group_id for g in await ui(request).service.list_groups()])
        if twin is not None:
            raise see_other(f"/groups/{twin}") from None
        raise NotFound(f"There is no group named {gid}. It may have been deleted when its last member left.") from None
    except Unavailable as exc:
        return await offline_group_page(request, gid, exc)
    template = "group.html" if context["is_member"] else "group_join.html"
    return await render(request, template, context, nav="groups")


async def offline_group_page(request: web.Request, gid: str, away: Unavailable, *,
                             refused: str | None = None) -> web.Response:
    """The tracker is away (a failover, a restart): what this node itself holds of the group still shows.
    ``refused``: why one of the page's forms was not done, for its answer; a reload then loads the page afresh."""
    service = ui(request).service
    return await render(request, "group_offline.html", {
        "gid": gid, "why": away.message, "refused": refused,
        "shares": [s for s in service.shares() if s.group_id == gid],
        "downloads": [d for d in ordered(service.downloads()) if d.group_id == gid], "save_url": save_url,
    }, status=503, nav="groups", page=f"/groups/{gid}" if refused else None)


# The downloads page's views of its list, by state: (query value, label, states shown, words for an empty view).
# Only the view's rows are sent, and its event stream (``?show=``) sends the others' brief rows, for the counts: 200
# downloads made 684 kB of piece maps whichever view was on.
DOWNLOAD_VIEWS = (("all", "All", "DPFC", ""), ("D", "Running", "D", "No download is running now."),
                  ("P", "Paused", "P", "No download is paused."),
                  ("F", "Waiting or failed", "F", "No download is waiting or failed."),
                  ("C", "Complete", "C", "No download is complete yet."))


def view_states(show: str) -> str:
    """The states a view of the downloads page shows (every state for an unknown one)."""
    return next((states for code, _, states, _ in DOWNLOAD_VIEWS if code == show), DOWNLOAD_VIEWS[0][2])


def unfinished_from(downloads: list[DownloadView], gid: str) -> list[str]:
    """The names of the running and paused downloads from a group: what leaving it stops and deletes."""
    return sorted((d.file_name for d in downloads
                   if d.group_id == gid and d.state in (DownloadState.RUNNING, DownloadState.PAUSED)), key=natural_key)


def downloads_context(request: web.Request) -> dict[str, Any]:
    downloads = ordered(ui(request).service.downloads())
    show = request.query.get("show", "all")
    counts = {code: sum(1 for d in downloads if d.state.value in states) for code, _, states, _ in DOWNLOAD_VIEWS}
    show = show if show in counts else "all"
    states = view_states(show)
    return {"downloads": downloads, "shown": [d for d in downloads if d.state.value in states], "save_url": save_url,
            "template_row": TEMPLATE_ROW, "errors": {}, "values": {}, "show": show, "views": DOWNLOAD_VIEWS,
            "counts": counts, "view_empty": next(empty for code, _, _, empty in DOWNLOAD_VIEWS if code == show)}


async def downloads_page(request: web.Request) -> web.StreamResponse:
    await require_user(request)
    return await render(request, "downloads.html", downloads_context(request), nav="downloads")


async def page_of_form(request: web.Request) -> web.StreamResponse:
    """A GET on a form's address (a bookmark, a link shared from the address bar of a refused form's page): the
    page that form belongs to, not a bare 405."""
    if "group_id" in request.match_info:
        raise see_other(f"/groups/{quote(group_id_from(request), safe='')}")
    raise see_other("/downloads" if request.path.startswith("/downloads/") else "/")
