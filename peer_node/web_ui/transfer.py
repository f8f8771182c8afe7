"""Files between the browser and the node: upload-then-share, and saving a finished download.

Upload: the multipart body is read part by part and the file part is copied to
``<data-dir>/uploads/<random>/<name>`` in 256 KiB chunks (disk writes off the event loop), so a large file
never sits in memory; then the node shares that copy like any local path. The CSRF token must be the form's
first field (browsers send fields in document order), which lets us refuse before reading any file byte.
A request from upload.js (``X-Upload-Progress: 1``) is answered in JSON when refused, so that the page shows why in
the form, the chosen file still in it, instead of being replaced by a new one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp_session import get_session

from peer_node.hashing import hash_in_thread
from peer_node.views import DownloadState, SharedFile
from peer_node.web_ui.format import error_parts
from peer_node.web_ui.forms import group_error
from peer_node.web_ui.free_name import first_free
from peer_node.web_ui.pages import group_id_from
from peer_node.web_ui.ports import UiService
from peer_node.web_ui.security import CSRF_FIELD, csrf_ok, refusal
from peer_node.web_ui.state import flash, require_user, see_other, ui
from wire.errors import BadInput, Conflict, GroupShareError, NotFound, TooLarge
from wire.names import check_new_file_name
from wire.pieces import MAX_FILE_SIZE

CHUNK = 256 * 1024


async def _copy_part(part: BodyPartReader, target: Path) -> int:
    loop = asyncio.get_running_loop()
    written = 0
    f: BinaryIO = await loop.run_in_executor(None, lambda: target.open("xb"))
    try:
        while chunk := await part.read_chunk(CHUNK):
            written += len(chunk)
            if written > MAX_FILE_SIZE:
                raise TooLarge("That file is larger than GroupShare can share.")
            await loop.run_in_executor(None, f.write, chunk)
    finally:
        await loop.run_in_executor(None, f.close)
    return written


async def upload(request: web.Request) -> web.StreamResponse:
    """POST /groups/{gid}/upload (multipart: csrf_token, then file). Shared as the user who sent it, or not at all:
    another may have logged in while it came (``as_user``)."""
    uid = await require_user(request)
    gid = group_id_from(request)
    session = await get_session(request)
    expired = "This form has expired or did not come from this page. Reload the page and try again."
    try:
        reader = await request.multipart()
        first = await reader.next()
        if not isinstance(first, BodyPartReader) or first.name != CSRF_FIELD:
            return _early_refusal(request, expired, 403)
        token = (await first.text()).strip()
    except (AssertionError, ValueError, UnicodeDecodeError, HttpProcessingError):  # not a multipart form of ours
        why = "Send the form from the group page."
        return _early_refusal(request, why, 400)
    if not csrf_ok(session, token):
        return _early_refusal(request, expired, 403)
    state = ui(request)
    folder: Path | None = None
    shared = None
    try:
        part = await reader.next()
        if not isinstance(part, BodyPartReader) or part.name != "file" or not part.filename:
            raise BadInput("Choose a file to upload first.")
        name = check_new_file_name(Path(part.filename.replace("\\", "/")).name)
        folder = state.upload_dir / secrets.token_hex(8)
        folder.mkdir(parents=True)
        await _copy_part(part, folder / name)
        if await reader.next() is not None:
            raise BadInput("Upload one file at a time.")
        shared, name = await _share_upload(state.service, folder, name, gid, uid)
    except HttpProcessingError:  # a part's headers aiohttp refuses: a control character in the file's name, say
        named = BadInput("The file's name holds characters a file shared here cannot have (control characters). "
                         "Rename it, then upload it.")
        return await _upload_error(request, gid, named)
    except (ValueError, AssertionError):
        return await _upload_error(request, gid, BadInput("The upload was cut off or garbled. Try again."))
    except GroupShareError as exc:
        return await _upload_error(request, gid, exc)
    except OSError as exc:  # the node's disk: full, or its upload folder unwritable
        kept = BadInput(f"The node could not keep the upload: {exc.strerror or exc}. Nothing was shared.")
        return await _upload_error(request, gid, kept)
    finally:
        if shared is None and folder is not None:  # refused, broken or the browser went away: keep no half file
            shutil.rmtree(folder, ignore_errors=True)
    renamed = "" if shared.file_name == name else \
        f" A different {name} is already shared in {gid}, so this one is shared as {shared.file_name}."
    flash(session, f"Uploaded and sharing {shared.file_name} with {gid}.{renamed}")
    if _from_upload_js(request):  # it goes to the page itself, notice and all
        return web.Response(status=204, headers={"Location": f"/groups/{gid}#share", "Cache-Control": "no-store"})
    raise see_other(f"/groups/{gid}#share")  # back at the form used, its heading focused (app.js)


def _from_upload_js(request: web.Request) -> bool:
    return request.headers.get("X-Upload-Progress") == "1"


def _early_refusal(request: web.Request, message: str, status: int) -> web.Response:
    """A refusal before the form could be read as ours (no page to show it on): JSON for upload.js, else text."""
    return _refused(request, message, status) or refusal(message, status)


def _refused(request: web.Request, message: str, status: int) -> web.Response | None:
    """upload.js's refused request: why, in JSON (the sentence and any details apart, as ``error_parts`` splits
    them for a page); None for a plain form's post, which gets a page."""
    if not _from_upload_js(request):
        return None
    said, detail = error_parts(message)
    return web.json_response({"error": said, "detail": detail}, status=status, headers={"Cache-Control": "no-store"})


async def _upload_error(request: web.Request, gid: str, exc: GroupShareError) -> web.Response:
    return _refused(request, exc.message, exc.status) or await group_error(request, gid, "upload", exc)


async def _share_upload(service: UiService, folder: Path, name: str, gid: str,
                        uid: str) -> tuple[SharedFile, str]:
    """Share the uploaded copy; if the group already has a different file of that name, share it as
    "name (1).ext" instead (a person uploading wants the file shared, as a sync folder would keep both), unless
    the same bytes are already in the group under another name: then this node joins that file as a seeder.
    Returns the share and the name the file was uploaded under."""
    try:
        return await service.upload_file(str(folder / name), gid, as_user=uid), name
    except Conflict:
        files = (await service.group_detail(gid)).files
        taken = {f.file_name for f in files}
        if name not in taken:
            raise
        ours = await hash_in_thread(str(folder / name))
        same = next((f.file_name for f in files if f.sha256 == ours.sha256 and f.size == ours.size
                     and f.file_name != name), None)
        free = same or first_free(name, taken.__contains__)
        if free is None:
            raise
        await asyncio.to_thread(os.rename, folder / name, folder / free)
        return await service.upload_file(str(folder / free), gid, as_user=uid), name


def _saved_file(destination: Path, name: str) -> Path | None:
    path = destination / name if destination.is_dir() else destination
    return path if path.is_file() else None


async def save(request: web.Request) -> web.StreamResponse:
    """GET /downloads/save?group=&name=: a completed download, sent to the browser as an attachment."""
    await require_user(request)
    gid, name = request.query.get("group", ""), request.query.get("name", "")
    if not gid or not name:  # the address without a download named: the page to choose one from
        raise see_other("/downloads")
    for d in ui(request).service.downloads():
        if d.group_id == gid and d.file_name == name and d.state is DownloadState.COMPLETE:
            path = _saved_file(Path(d.destination), d.file_name)
            if path is None:
                raise NotFound(f"the file {name} is no longer at {d.destination}. It was moved or deleted.")
            disposition = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
            return web.FileResponse(path, headers={"Content-Disposition": disposition,
                                                   "Content-Type": "application/octet-stream",
                                                   "Cache-Control": "no-store"})
    raise NotFound(f"No finished download named {name} in {gid}.")
