"""Form posts about downloads: start one from a group page (to the chosen folder, under a free name), act on a
row of the downloads list (retry, pause, resume, remove, clear the complete ones), and the settings beside them
(the download folder, the upload and download limits). POST only; the guard has checked Origin and the CSRF token
already.

On success: a one-line notice and a 303 back, to the row acted on (post/redirect/get). On a refusal: the page
again with the error in words, next to the form, or above the list for a row's action.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web
from aiohttp_session import get_session

from peer_node.destinations import can_create_in, partial_in_the_way
from peer_node.download_views import left_behind, still_shared
from peer_node.rates import parse_rate
from peer_node.views import DownloadState, DownloadView
from peer_node.web_ui.download_words import ordered, rejoin_words, row_key
from peer_node.web_ui.format import clear_notice, download_limit_notice, sentence, upload_limit_notice
from peer_node.web_ui.forms import group_error, text_field
from peer_node.web_ui.free_name import first_free
from peer_node.web_ui.pages import downloads_context, group_id_from
from peer_node.web_ui.state import flash, render, require_user, safe_next, see_other, ui
from wire.errors import BadInput, Conflict, Forbidden, GroupShareError, NotFound
from wire.names import check_file_name, check_id


def _existing_folder(folder: str) -> str | None:
    expanded = os.path.expanduser(folder)
    return expanded if os.path.isabs(expanded) and os.path.isdir(expanded) else None


def _not_a_folder(folder: str) -> str:
    """Why ``folder`` (not an existing absolute folder) cannot be the download folder, in the user's words."""
    expanded = os.path.expanduser(folder)
    if os.path.isabs(expanded) and os.path.exists(expanded):
        return f"{folder} is a file, not a folder. Give the full path of the folder to save to."
    return f"The folder {folder} does not exist on this computer. Give the full path of an existing folder."


def _target_taken(folder: Path, name: str, resumes_at: set[str]) -> bool:
    """Something (a file, a link, even a dangling one) holds ``name`` in ``folder`` already, or its partial-file
    name. This download's own partial file does not count (``resumes_at``: where it ran before): downloading the
    same file again resumes it."""
    target = Path(os.path.realpath(folder)) / name  # as the download records it (``resolve_destination``)
    return os.path.lexists(target) or partial_in_the_way(target, str(target) in resumes_at) is not None


def _ensure_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)


async def start_download(request: web.Request) -> web.StreamResponse:
    uid = await require_user(request)
    gid = group_id_from(request)
    form = await request.post()
    name = text_field(form, "file_name")
    session = await get_session(request)
    folder = session.get("download_dir")
    folder_path = Path(folder) if isinstance(folder, str) and folder else ui(request).default_download_dir
    try:
        check_file_name(name)
        if folder_path == ui(request).default_download_dir:
            _ensure_folder(folder_path)
        downloads = ui(request).service.downloads()
        resumes_at = {d.destination for d in downloads if (d.group_id, d.file_name) == (gid, name)}
        saved_as = await asyncio.to_thread(first_free, name, lambda n: _target_taken(folder_path, n, resumes_at))
        if saved_as is None:
            raise BadInput(f"{folder_path / name} and a thousand numbered names beside it exist. Choose another "
                           "download folder.")
        # The folder itself when the name is free (the contract's rule), else the numbered file's full path.
        await ui(request).service.download_file(gid, name, str(folder_path if saved_as == name
                                                              else folder_path / saved_as), as_user=uid)
    except GroupShareError as exc:
        return await group_error(request, gid, f"file:{name}", exc)
    renamed = "" if saved_as == name else f" as {saved_as} ({name} is already in {folder_path})"
    flash(session, f"Downloading {name}{renamed}. Progress shows here live.")
    raise see_other("/downloads")


async def set_download_folder(request: web.Request) -> web.StreamResponse:
    await require_user(request)
    gid = group_id_from(request)
    folder = text_field(await request.post(), "folder")
    session = await get_session(request)
    if not folder:
        session.pop("download_dir", None)
        flash(session, "Downloads go to the node's own folder again.")
        raise see_other(f"/groups/{gid}")
    expanded = _existing_folder(folder)
    if expanded is None:
        exc = BadInput(_not_a_folder(folder))
        return await group_error(request, gid, "folder", exc, {"folder": folder})
    if not await asyncio.to_thread(can_create_in, Path(expanded)):
        exc = BadInput(f"The node cannot write in {expanded}. Choose a folder it can save files to.")
        return await group_error(request, gid, "folder", exc, {"folder": folder})
    session["download_dir"] = expanded
    flash(session, f"Downloads now go to {expanded}.")
    raise see_other(f"/groups/{gid}")


async def _row_form(request: web.Request) -> tuple[str, str, str]:
    """A download row's form: (group id, file name, the page to go back to: at that row, not at the top of a
    long list, keyboard focus with it)."""
    await require_user(request)
    form = await request.post()
    gid, name = text_field(form, "group_id"), text_field(form, "file_name")
    check_id(gid, "group id")
    check_file_name(name)
    return gid, name, f"{safe_next(text_field(form, 'back'), '/downloads')}#{row_key(gid, name)}"


def _neighbour(downloads: list[DownloadView], gid: str, name: str) -> str:
    """The row a removed one leaves the page at: the next one, else the one before ("" for none)."""
    keys = [(d.group_id, d.file_name) for d in ordered(downloads)]
    if (gid, name) not in keys:
        return ""
    at = keys.index((gid, name))
    rest = keys[at + 1:] or keys[:at][-1:]
    return f"#{row_key(*rest[0])}" if rest else ""


async def _row_action_refused(request: web.Request, verb: str, gid: str, name: str,
                              exc: GroupShareError) -> web.Response:
    """A row's action that cannot act now (left the group, no tracker): said above the downloads list."""
    why = f"Could not {verb} {name}. {sentence(exc.message)}"
    if isinstance(exc, Forbidden):
        row = [d for d in ui(request).service.downloads() if (d.group_id, d.file_name) == (gid, name)]
        why += " " + rejoin_words(gid, row[0] if row else None)
    context = downloads_context(request)
    context["errors"] = {"page": why}
    return await render(request, "downloads.html", context, status=exc.status, nav="downloads", page="/downloads")


async def retry_download(request: web.Request) -> web.StreamResponse:
    """Start a failed download again, to the same destination: it resumes from the pieces it verified."""
    gid, name, back = await _row_form(request)
    service = ui(request).service
    failed = [d for d in service.downloads()
              if d.group_id == gid and d.file_name == name and d.state is DownloadState.FAILED]
    session = await get_session(request)
    if not failed:  # retried or removed meanwhile (another tab, /cmd, or it resumed by itself): the list says how
        flash(session, f"The download of {name} from {gid} is no longer failed: see how it stands below.")
        raise see_other("/downloads")
    try:
        await service.download_file(gid, name, failed[0].destination)
    except GroupShareError as exc:
        return await _row_action_refused(request, "retry", gid, name, exc)
    flash(session, f"Retrying {name}. The pieces already verified are kept.")
    raise see_other(back)


async def pause_download(request: web.Request) -> web.StreamResponse:
    """Stop a running download, keeping its verified pieces for Resume."""
    return await _pause_or_resume(request, pause=True)


async def resume_download(request: web.Request) -> web.StreamResponse:
    """Start a paused download again from its verified pieces."""
    return await _pause_or_resume(request, pause=False)


async def _pause_or_resume(request: web.Request, *, pause: bool) -> web.StreamResponse:
    gid, name, back = await _row_form(request)
    session = await get_session(request)
    service = ui(request).service
    try:
        view = await (service.pause_download(gid, name) if pause else service.resume_download(gid, name))
    except (NotFound, Conflict) as exc:  # removed, finished, paused or resumed meanwhile (another tab, /cmd)
        flash(session, f"{sentence(exc.message)} See how it stands below.")
        raise see_other(back) from None
    except GroupShareError as exc:  # a resume that cannot start now (left the group, no tracker)
        return await _row_action_refused(request, "pause" if pause else "resume", gid, name, exc)
    if pause:
        flash(session, f"Paused {name} at {view.percent}%. Its verified pieces are kept: Resume goes on from them.")
    elif view.will_resume:
        flash(session, f"Nobody shares {name} now, so it waits at {view.percent}%: it goes on by itself when a "
                       "member who has it is back.")
    else:
        flash(session, f"Resuming {name}. The pieces already verified are kept.")
    raise see_other(back)


async def clear_complete(request: web.Request) -> web.StreamResponse:
    """Take every complete download off the list at once; their files stay where they were saved (and shared,
    unless stop_share ended that), and the notice says how many were no longer there."""
    await require_user(request)
    service = ui(request).service
    cleared: list[str] = []
    for d in [d for d in service.downloads() if d.state is DownloadState.COMPLETE]:
        try:
            await service.remove_download(d.group_id, d.file_name)
        except NotFound:  # removed meanwhile (another tab, /cmd)
            continue
        cleared.append(d.destination)
    present = await asyncio.to_thread(lambda: [os.path.lexists(path) for path in cleared])
    flash(await get_session(request), clear_notice(len(cleared), present.count(False)))
    raise see_other("/downloads?show=all")


async def remove_download(request: web.Request) -> web.StreamResponse:
    """Cancel a download (its partial data is deleted) or clear a finished one from the list."""
    await require_user(request)
    form = await request.post()
    gid, name = text_field(form, "group_id"), text_field(form, "file_name")
    service = ui(request).service
    back = safe_next(text_field(form, "back"), "/downloads") + _neighbour(service.downloads(), gid, name)
    session = await get_session(request)
    try:
        removed = await service.remove_download(gid, name)
    except NotFound:  # removed meanwhile (another tab, /cmd): what the user asked for is done
        flash(session, f"The download of {name} from {gid} was removed already.")
        raise see_other(back) from None
    if removed.state is DownloadState.COMPLETE:
        present = await asyncio.to_thread(os.path.lexists, removed.destination)
        kept = left_behind(removed, still_shared(service.shares, removed), present)
        flash(session, f"Removed {name} from the list. {kept[0].upper()}{kept[1:]}.")
    elif removed.state is DownloadState.FAILED:
        flash(session, f"Removed the failed download of {name} and deleted its partial data.")
    elif removed.state is DownloadState.PAUSED:
        flash(session, f"Cancelled the paused download of {name} and deleted what it had kept.")
    else:
        flash(session, f"Cancelled the download of {name} and deleted what it had downloaded.")
    raise see_other(back)


async def set_upload_limit(request: web.Request) -> web.StreamResponse:
    """The most bytes a second this node uploads to peers in all ('10M', '500kB/s'; '0' for no limit)."""
    return await _set_limit(request, "upload")


async def set_download_limit(request: web.Request) -> web.StreamResponse:
    """The most bytes a second this node's downloads fetch in all, with the upload limit's rates and refusals."""
    return await _set_limit(request, "download")


async def _set_limit(request: web.Request, which: str) -> web.StreamResponse:
    await require_user(request)
    text = text_field(await request.post(), "rate")
    service = ui(request).service
    try:
        if not text:
            raise BadInput("Enter a rate such as 10M (10 MB/s), or 0 for no limit.")
        rate = parse_rate(text)
        await (service.set_upload_limit if which == "upload" else service.set_download_limit)(rate)
    except GroupShareError as exc:
        context = downloads_context(request)
        context["errors"] = {f"{which}_limit": exc.message}
        context["values"] = {f"{which}_rate": text}  # the refused text stays in its own field only
        return await render(request, "downloads.html", context, status=exc.status, nav="downloads",
                            page="/downloads")
    flash(await get_session(request), (upload_limit_notice if which == "upload" else download_limit_notice)(rate))
    raise see_other("/downloads")
