"""Why a peer could not help, in a user's words: what a failed download's ``[F]`` line and row say.

The raw causes are for the log ("[Errno 111] Connect call failed ('127.0.0.1', 30421)", "peer said goodbye: file
not served here"); a user needs to know whether the member's node is off, has stopped sharing the file, or is
unreachable. Pure functions.
"""

from __future__ import annotations

# What a piece server's GOODBYE says (connection.py), and what it means to the downloader's user.
_GOODBYES = (
    ("file not served here", "their node does not share this file now"),
    ("file no longer served", "their node stopped sharing this file"),
    # What happened (the access the tracker gave us lasts minutes, and ran out on that connection), and that the
    # user need do nothing: "access expired" alone read as if the group had shut them out.
    ("token expired", "our access to the file ran out, so their node stopped sending (the next try gets new access "
                      "by itself)"),  # at most 120 characters: Roster.last_errors cuts there
    ("access denied", "their node refused our access to the file"),
    ("unsupported protocol version", "their node runs an incompatible version"),
    ("idle timeout", "their node closed an idle connection"),
    ("handshake timeout", "their node gave up waiting for us"),
)


def plain_reason(cause: BaseException | str) -> str:
    """One short phrase for why a connection to a peer failed or ended."""
    if isinstance(cause, ConnectionRefusedError):
        return "their node is not running (connection refused)"
    if isinstance(cause, TimeoutError):
        return "their node did not answer in time"
    if isinstance(cause, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "the connection was cut"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror[:1].lower() + cause.strerror[1:]
    text = str(cause) or type(cause).__name__
    for raw, plain in _GOODBYES:
        if raw in text:
            return plain
    return text


def disk_error_words(exc: OSError) -> str:
    """A failed download's reason when the disk or its folder refused: "disk error: Read-only file system
    (/data/.f.bin.gspart)". The path says which folder to fix; several steps may have failed on it."""
    where = f" ({exc.filename})" if exc.filename else ""
    return f"disk error: {exc.strerror or exc}{where}"


def stuck_reason(file_name: str, *, unlisted: bool, all_banned: bool, errors: str) -> tuple[str, bool]:
    """Why a download that nobody helps any more ends, and whether it is for damaged pieces (then ``CorruptSources``,
    which is not waited out): the file off the group's list, every member who has the rest banned for bad pieces,
    or no seeder reachable, with what each member's node answered (``errors``: ``Roster.last_errors``)."""
    if unlisted:
        answered = f"; {errors}" if errors else ""
        return f"nobody shares {file_name} now (it is no longer on the group's list{answered})", False
    if all_banned:
        return "every member who has the rest sent damaged pieces (their copy changed since it was shared)", True
    return (f"no seeder reachable ({errors})" if errors else "no seeder reachable"), False
