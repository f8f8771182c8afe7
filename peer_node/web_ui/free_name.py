"""A name for a browser download whose file name is already taken in the download folder: "notes (1).txt", as
browsers name a second download of the same file. Scripts keep the contract's refusal (``download_file`` never
picks a name for them); a person clicking Download wants the file, not an error to work around.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_NAME_BYTES = 255
MAX_TRIES = 1000


def numbered(name: str, n: int) -> str:
    """``name`` with `` (n)`` before its extension, the stem cut (in whole characters) to stay within 255 bytes.
    A leading dot is part of the stem (".env" -> ".env (1)"); so is everything after the last dot of a name whose
    only dot leads."""
    dot = name.rfind(".")
    stem, ext = (name[:dot], name[dot:]) if dot > 0 else (name, "")
    if len(ext.encode("utf-8")) > 32:  # "a.<long tail>": not an extension worth keeping whole
        stem, ext = name, ""
    tag = f" ({n})"
    room = MAX_NAME_BYTES - len((tag + ext).encode("utf-8"))
    while len(stem.encode("utf-8")) > room:
        stem = stem[:-1]
    return f"{stem}{tag}{ext}"


def first_free(name: str, taken: Callable[[str], bool]) -> str | None:
    """``name`` if it is free, else the first free ``numbered`` name; None when a thousand are taken."""
    if not taken(name):
        return name
    return next((candidate for n in range(1, MAX_TRIES + 1) if not taken(candidate := numbered(name, n))), None)
