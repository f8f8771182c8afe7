"""What the form handlers share: reading a posted field, and a refusal shown on the group page next to the form
that caused it (or at the top of the page when that form is gone)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from peer_node.web_ui.pages import group_context, offline_group_page
from peer_node.web_ui.state import render, require_user
from wire.errors import GroupShareError, Unavailable


def text_field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _shown_nowhere(context: dict[str, Any], where: str) -> bool:
    """Whether the row or form an error belongs to is no longer on the page (a request withdrawn, a file no
    longer shared, a member's form sent from a tab left open after leaving the group): its error would then
    show nowhere, and the click seem to have worked."""
    if not context["is_member"]:
        return where != "join"  # the non-member's page has the join form only
    kind, _, name = where.partition(":")
    if kind == "request":
        return name not in context["group"].pending_requests
    if kind == "file":
        return name not in {f.file_name for f in context["files"]}
    return False


async def group_error(request: web.Request, gid: str, where: str, exc: GroupShareError,
                       values: dict[str, str] | None = None) -> web.Response:
    kind, _, name = where.partition(":")
    # The user who sent the form may have been logged out while it was handled (a long upload): the page would be
    # drawn for whoever is logged in now. Theirs is the login page, which says they were logged out.
    await require_user(request)
    try:
        context = await group_context(request, gid, holding=name if kind == "file" else None)
    except Unavailable as away:  # no page of the group to show the error on: the page the node has offline
        return await offline_group_page(request, gid, away, refused=exc.message)
    context["errors"] = {"page" if _shown_nowhere(context, where) else where: exc.message}
    context["values"] = values or {}
    template = "group.html" if context["is_member"] else "group_join.html"
    address = f"/groups/{gid}"
    if context.get("paged") and context["files_page"].number > 1:  # the page holding the row: for a reload or Back
        address = context["files_page_url"](context["files_page"].number)
    return await render(request, template, context, status=exc.status, nav="groups", page=address)
