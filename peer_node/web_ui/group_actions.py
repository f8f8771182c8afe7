"""Form posts of the groups and group pages: create, join, leave, answer requests to join, share and stop sharing
(POST only; the guard has checked Origin and the CSRF token already).

On success: a one-line notice and a 303 back to a page (post/redirect/get, so reload never re-posts), at the
section the action changed: its heading takes the focus there (app.js), not the top of the page.
On a refusal: the same page again, with the error in plain words next to the form that caused it (``forms``).
"""

from __future__ import annotations

import os

from aiohttp import web
from aiohttp_session import get_session

from peer_node.sensitive import why_private
from peer_node.views import DownloadState, ShareEnd
from peer_node.web_ui.format import names_list, sentence, stopped_downloads_words
from peer_node.web_ui.forms import group_error, text_field
from peer_node.web_ui.free_name import first_free
from peer_node.web_ui.pages import case_twin, group_id_from, groups_context, groups_context_or_offline, unfinished_from
from peer_node.web_ui.ports import UiService
from peer_node.web_ui.state import flash, render, require_user, safe_next, see_other, ui
from wire.errors import BadInput, Conflict, GroupShareError, NotFound
from wire.names import ID_RULE, check_file_name, check_id


class _LooksPrivate(BadInput):
    """A key or credentials file: shared only once the user ticks "Share it anyway" (peer_node.sensitive)."""


def _existing_file(path: str) -> str:
    """The absolute path with ~ expanded, if a regular file is there (a stat: cheap enough for the loop)."""
    expanded = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(expanded):
        raise BadInput(f"The path {path} is a folder. Give the path of one file in it.")
    if not os.path.isfile(expanded):
        raise BadInput(f"There is no file at {path}. Check the path (it is on the computer running the node).")
    return expanded


async def create_group(request: web.Request) -> web.StreamResponse:
    await require_user(request)
    gid = text_field(await request.post(), "group_id")
    try:
        check_id(gid, "group name")
        await ui(request).service.create_group(gid)
    except GroupShareError as exc:
        context = await groups_context_or_offline(request)
        msg = exc.message
        if isinstance(exc, BadInput):
            msg = f"A group name is {ID_RULE}."
        elif exc.status == 409:
            twin = case_twin(gid, [g.group_id for g in context["groups"]])
            msg = f"A group named {twin} already exists, and names that differ only in capitals count as the " \
                  "same. Choose another name." if twin else f"A group named {gid} already exists. Choose another name."
        context["errors"] = {"create": msg}
        context["values"] = {"group_id": gid}
        return await render(request, "groups.html", context, status=exc.status, nav="groups", page="/groups")
    flash(await get_session(request), f"Group {gid} created. You are its owner.")
    raise see_other(f"/groups/{gid}#group-name")


async def join_group(request: web.Request) -> web.StreamResponse:
    await require_user(request)
    gid = group_id_from(request)
    back = safe_next(text_field(await request.post(), "back"), f"/groups/{gid}")
    try:
        await ui(request).service.join_group(gid)
    except GroupShareError as exc:
        if back == "/groups":
            context = await groups_context(request)
            context["errors"] = {f"join:{gid}": exc.message}
            return await render(request, "groups.html", context, status=exc.status, nav="groups", page="/groups")
        return await group_error(request, gid, "join", exc)
    flash(await get_session(request), f"Asked to join {gid}. The owner will decide.")
    raise see_other(back)


async def leave_group(request: web.Request) -> web.StreamResponse:
    await require_user(request)
    gid = group_id_from(request)
    service = ui(request).service
    unfinished = set(unfinished_from(service.downloads(), gid))
    try:
        result = await service.leave_group(gid)
    except GroupShareError as exc:
        return await group_error(request, gid, "leave", exc)
    note = f"You withdrew your request to join {gid}." if result.withdrawn else f"You left {gid}."
    stopped = [d.file_name for d in service.downloads() if d.group_id == gid and d.file_name in unfinished
               and d.state is DownloadState.FAILED]
    if stopped:
        note += f" {stopped_downloads_words(stopped, done=True)}"
    if result.deleted:
        note += " It had no other members, so it was deleted."
    elif result.new_owner:
        note += f" {result.new_owner} owns it now."
    flash(await get_session(request), note)
    raise see_other("/groups")


async def decide_request(request: web.Request) -> web.StreamResponse:
    await require_user(request)
    gid = group_id_from(request)
    uid = request.match_info["user_id"]
    accept = request.match_info["decision"] == "accept"
    service = ui(request).service
    try:
        check_id(uid, "user id")
        await (service.accept_request(gid, uid) if accept else service.reject_request(gid, uid))
    except NotFound:
        gone = NotFound(f"The request from {uid} to join {gid} is no longer waiting: withdrawn, or answered "
                        f"elsewhere. Nothing changed.")
        return await group_error(request, gid, f"request:{uid}", gone)
    except GroupShareError as exc:
        return await group_error(request, gid, f"request:{uid}", exc)
    flash(await get_session(request), f"{uid} is now a member." if accept else f"Declined {uid}'s request.")
    raise see_other(f"/groups/{gid}#requests")  # the members' heading when none is left (group.html)


def _now_members(admitted: list[str]) -> str:
    return f"{names_list(admitted)} {'is a member' if len(admitted) == 1 else 'are members'} now."


async def accept_all(request: web.Request) -> web.StreamResponse:
    """Admit every requester the owner's page listed (not one who asked since: the owner has not seen them)."""
    await require_user(request)
    gid = group_id_from(request)
    asked = [str(v) for v in (await request.post()).getall("user_id", [])]
    service = ui(request).service
    admitted: list[str] = []
    gone: list[str] = []
    for uid in dict.fromkeys(asked):  # once each, in the page's order
        try:
            check_id(uid, "user id")
            await service.accept_request(gid, uid)
        except NotFound:  # withdrawn, or answered in another tab or by /cmd meanwhile
            gone.append(uid)
            continue
        except GroupShareError as exc:  # no tracker now, or not the owner any more: say so, with who got in
            if admitted:
                said = GroupShareError(f"{_now_members(admitted)} Then: {sentence(exc.message)}")
                said.status = exc.status
                exc = said
            return await group_error(request, gid, "page", exc)
        admitted.append(uid)
    words = [_now_members(admitted) if admitted else "Nobody was admitted."]
    if gone:
        words.append(f"No longer waiting (withdrawn, or answered elsewhere): {names_list(gone)}.")
    flash(await get_session(request), " ".join(words))
    raise see_other(f"/groups/{gid}#requests")


async def share_path(request: web.Request) -> web.StreamResponse:
    uid = await require_user(request)
    gid = group_id_from(request)
    form = await request.post()
    path = text_field(form, "path")
    try:
        if not path:
            raise BadInput("Enter the full path of a file on this computer, e.g. /home/you/report.pdf.")
        expanded = _existing_file(path)
        why = why_private(expanded, str(ui(request).config.data_dir))
        if why is not None and text_field(form, "share_private") != "yes":
            raise _LooksPrivate(f"The file {os.path.basename(expanded)} looks private ({why}). Every member of {gid} "
                                "would get a copy. Tick “Share it anyway” if that is what you want.")
        try:
            shared = await ui(request).service.upload_file(expanded, gid, as_user=uid)
        except Conflict as exc:
            raise await _name_taken(ui(request).service, gid, os.path.basename(expanded), exc) from None
    except GroupShareError as exc:
        private = "yes" if isinstance(exc, _LooksPrivate) else ""
        return await group_error(request, gid, "share", exc, {"path": path, "private": private})
    flash(await get_session(request), f"Sharing {shared.file_name} with {gid}.")
    raise see_other(f"/groups/{gid}#share")


async def _name_taken(service: UiService, gid: str, name: str, refusal: Conflict) -> Conflict:
    """A share refused because the group has another file of that name, with the ways on: a file shared by its
    path keeps its name (it is the user's own file), an upload is shared under a free one (``transfer``)."""
    try:
        taken = {f.file_name for f in (await service.group_detail(gid)).files}
    except GroupShareError:
        return refusal
    free = first_free(name, taken.__contains__) if name in taken else None
    if free is None:
        return refusal
    return Conflict(f"{sentence(refusal.message)} Rename your file (to {free}, say) and share it again, or send it "
                    f"with Upload and share below, which shares it as {free}.")


STOP_NOTES = {
    ShareEnd.TOLD: "",
    ShareEnd.NO_TRACKER: " No tracker answers, so the group lists it as offline.",
    ShareEnd.UNKNOWN_THERE: " The tracker had it as not shared by you already (ended from another of your nodes).",
    ShareEnd.NOT_MEMBER: " You are no longer a member of this group (you left from another node).",
}


async def stop_share(request: web.Request) -> web.StreamResponse:
    await require_user(request)
    gid = group_id_from(request)
    name = text_field(await request.post(), "file_name")
    try:
        check_file_name(name)
        end = await ui(request).service.stop_share(gid, name)
    except GroupShareError as exc:
        return await group_error(request, gid, "shares", exc)
    flash(await get_session(request), f"Stopped sharing {name}.{STOP_NOTES[end]}")
    raise see_other(f"/groups/{gid}#my-shares")
