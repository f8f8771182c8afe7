"""The one error hierarchy shared by the tracker and the peer node.

Each class carries the HTTP status it maps to; one middleware per service turns it into JSON (tracker API),
a page (browser) or an ``error: ...`` line (``/cmd``). Code raises these for every refusal a user can cause;
anything else escaping a handler is a bug and becomes a 500.
"""

from __future__ import annotations


class GroupShareError(Exception):
    """A refusal with a message meant for the user (one line, no trailing period needed)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message.splitlines()[0] if message else self.code


class BadInput(GroupShareError):
    status = 400
    code = "bad_input"


class NotLoggedIn(GroupShareError):
    status = 401
    code = "not_logged_in"


class Forbidden(GroupShareError):
    status = 403
    code = "forbidden"


class NotFound(GroupShareError):
    status = 404
    code = "not_found"


class Conflict(GroupShareError):
    status = 409
    code = "conflict"


class TooLarge(GroupShareError):
    status = 413
    code = "too_large"


class TooManyRequests(GroupShareError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoginLocked(TooManyRequests):
    """Too many wrong passwords: the login is locked for ``retry_after`` seconds (``login_throttle``). A code of its
    own because, unlike the other 429s (rates, the hasher's one-at-a-time), it is not waited out by a node: the
    person must hear it at once, and a node resending the login would be one more guess."""

    code = "login_locked"


class Unavailable(GroupShareError):
    """A service we depend on (a tracker, a peer) cannot be reached right now."""

    status = 503
    code = "unavailable"


ERRORS_BY_CODE: dict[str, type[GroupShareError]] = {
    cls.code: cls
    for cls in (GroupShareError, BadInput, NotLoggedIn, Forbidden, NotFound, Conflict, TooLarge,
                TooManyRequests, LoginLocked, Unavailable)
}


def error_from_code(code: str, message: str) -> GroupShareError:
    """Rebuild an error received as ``{"error": {"code", "message"}}`` from another process."""
    return ERRORS_BY_CODE.get(code, GroupShareError)(message)


def error_document(code: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON form of a refusal in the tracker API (the aiohttp middleware and the fast path both answer it)."""
    return {"error": {"code": code, "message": message}}
