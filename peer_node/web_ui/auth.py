"""Register, log in, log out.

Logging in asks the node to log in (the node acts for one user; /cmd shares the login), then throws the old
session away and starts a new one with a fresh CSRF token: a cookie planted before login is worth nothing
after it. Logging out bumps the user's session version, which ends every copy of the cookie.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from aiohttp_session import get_session, new_session

from peer_node.web_ui.format import sentence, wait_words
from peer_node.web_ui.security import csrf_token
from peer_node.web_ui.state import current_user, flash, render, safe_next, see_other, ui
from wire.errors import BadInput, GroupShareError, LoginLocked, NotLoggedIn
from wire.names import ID_RULE, MAX_PASSWORD, MIN_NEW_PASSWORD, check_id

BAD_LOGIN = "That user id and password do not match. Check both and try again."
# Said when an open page learned over its event stream that the session ended (?why=elsewhere).
LOGGED_OUT_ELSEWHERE = ("You were logged out elsewhere (in another tab or window, or by a command). Log in again "
                        "to come back to this page.")


def _field(form: object, name: str) -> str:
    value = form.get(name, "") if hasattr(form, "get") else ""
    return value if isinstance(value, str) else ""


async def login_page(request: web.Request) -> web.StreamResponse:
    if await current_user(request):
        raise see_other(safe_next(request.query.get("next")))
    target, page = safe_next(request.query.get("next")), None
    if request.query.get("why") == "elsewhere":  # said once: the address kept in the history drops the why
        flash(await get_session(request), LOGGED_OUT_ELSEWHERE)
        page = "/login" if target == "/" else "/login?next=" + quote(target, safe="/")
    return await render(request, "login.html", {
        "next": target, "values": {"user_id": request.query.get("user", "")}, "errors": {},
    }, nav="login", page=page)


async def login_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    uid, pw = _field(form, "user_id").strip(), _field(form, "password")
    target = safe_next(_field(form, "next"))
    errors: dict[str, str] = {}
    try:
        check_id(uid, "user id")
    except BadInput:
        errors["user_id"] = f"Enter your user id: {ID_RULE}."
    if not pw:
        errors["password"] = "Enter your password."
    if not errors:
        errors = await _log_node_in(request, uid, pw)
    if errors:
        page = "/login" if target == "/" else "/login?next=" + quote(target, safe="/")
        # A wrong user id or password (or too many of them): both fields are marked, and point at the error
        refused = errors.get("form") == BAD_LOGIN or str(errors.get("form", "")).startswith("Too many wrong")
        return await render(request, "login.html", {"next": target, "values": {"user_id": uid}, "errors": errors,
                                                    "credentials_refused": refused},
                            status=400 if "form" not in errors else 401, nav="login", page=page)
    await _start_web_session(request, uid, f"Logged in as {uid}.")
    raise see_other(target)


async def _start_web_session(request: web.Request, uid: str, note: str) -> None:
    old = await get_session(request)
    old.invalidate()
    session = await new_session(request)  # a new session: nothing from before login survives
    session["uid"] = uid
    session["ver"] = ui(request).versions.current(uid)
    csrf_token(session)
    flash(session, note)


async def _log_node_in(request: web.Request, uid: str, pw: str) -> dict[str, str]:
    """Log the node in as ``uid``, or check the password if the node already acts for ``uid`` (/cmd logged
    it in, or another browser did). Errors by form field."""
    service = ui(request).service
    node_user = service.status().user_id
    if node_user is not None and node_user != uid:
        return {"form": f"This node is logged in as {node_user}. A node acts for one user at a time: "
                        f"{node_user} must log out first."}
    try:
        if node_user == uid:
            await service.confirm_login(uid, pw)
        else:
            await service.login(uid, pw)
    except NotLoggedIn:
        return {"form": BAD_LOGIN}
    except LoginLocked as exc:  # the tracker's lock, or the node's own while no tracker answers
        return {"form": f"Too many wrong passwords for {uid}. Wait {wait_words(exc.retry_after)}, then try again."}
    except GroupShareError as exc:
        # Any other 429 (logins from this address or to this account, another login from here being checked) is
        # not about the password: it outlasted what the node waits out itself, and its words say how long to wait.
        return {"form": sentence(exc.message)}
    return {}


def _in_use_by(request: web.Request, visitor: str | None) -> str | None:
    """The user this node acts for, when that is not the visitor: an account made here is then for later, or
    for another node (a node acts for one user at a time), and the page says so before the form is filled."""
    node_user = ui(request).service.status().user_id
    return node_user if node_user is not None and node_user != visitor else None


async def register_page(request: web.Request) -> web.StreamResponse:
    in_use_by = _in_use_by(request, await current_user(request))
    return await render(request, "register.html", {"values": {}, "errors": {}, "in_use_by": in_use_by},
                        nav="register")


async def register_post(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    uid, pw, pw2 = _field(form, "user_id").strip(), _field(form, "password"), _field(form, "password2")
    errors: dict[str, str] = {}
    try:
        check_id(uid, "user id")
    except BadInput:
        errors["user_id"] = f"Use {ID_RULE}."
    if not pw:
        errors["password"] = "Choose a password."
    elif len(pw) < MIN_NEW_PASSWORD:
        errors["password"] = f"Use at least {MIN_NEW_PASSWORD} characters."
    elif len(pw) > MAX_PASSWORD:
        errors["password"] = f"Use at most {MAX_PASSWORD} characters."
    if pw and pw != pw2:  # said with the others at once, not one error per try
        errors["password2"] = "The two passwords differ. Type the same password twice."
    status = 400
    if not errors:
        try:
            await ui(request).service.create_user(uid, pw)
        except GroupShareError as exc:
            status = exc.status  # 409 taken; 429 too many sign-ups from this address (with the wait in words)
            if exc.status == 409:
                errors["user_id"] = "That user id is taken. Choose another."
            else:
                errors["form"] = sentence(exc.message)
    in_use_by = _in_use_by(request, uid)
    if errors:
        return await render(request, "register.html", {"values": {"user_id": uid}, "errors": errors,
                                                       "in_use_by": in_use_by},
                            status=status, nav="register", page="/register")
    service = ui(request).service
    if service.status().user_id is None:  # a free node: the new account starts using it at once
        try:
            await service.login(uid, pw)
        except GroupShareError:
            pass  # e.g. the tracker went away meanwhile: the login page says what is wrong when they try
        else:
            await _start_web_session(request, uid, f"Account {uid} created. You are logged in.")
            raise see_other("/")
    session = await get_session(request)
    if in_use_by is not None:
        flash(session, f"Account {uid} created. This node acts for {in_use_by} now: log in as {uid} on your own "
                       f"node, or here once {in_use_by} logs out.")
    else:
        flash(session, f"Account {uid} created. Log in to start.")
    raise see_other(f"/login?user={uid}")


async def logout_post(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    uid = session.get("uid")
    state = ui(request)
    if isinstance(uid, str) and await current_user(request) == uid:
        try:
            await state.service.logout()  # ends every copy of the user's cookie (service.on_logout)
        except NotLoggedIn:  # logged out meanwhile: ending our cookies is what is left
            state.versions.bump(uid)
    session.invalidate()
    fresh = await new_session(request)
    flash(fresh, "You are logged out. This node stops sharing until someone logs in.")
    raise see_other("/login")
