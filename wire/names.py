"""Validation of user-chosen names, shared by every door (tracker API, /cmd, browser, frames).

The contract: ids (users, groups) are 1-64 characters of ``A-Z a-z 0-9 . _ -``; a file name is 1-255 bytes of
UTF-8 with no ``/``, ``\\``, NUL or control character, and is not ``.`` or ``..``.
"""

from __future__ import annotations

import re
import unicodedata

from wire.errors import BadInput

ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
ID_RULE = "1-64 characters: letters, digits, '.', '_' or '-' (but not . or .. alone)"  # as every door says it
MAX_FILE_NAME_BYTES = 255
_FORBIDDEN = frozenset("/\\\x00")
# Unicode's bidirectional controls (the Bidi_Control property): invisible, they reorder what follows, so
# "invoice<U+202E>fdp.exe" shows as "invoiceexe.pdf" in every list. Control characters in all but category;
# a real right-to-left name (Hebrew, Arabic letters) needs none of them.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Also refused: the other invisible format characters (category Cf: zero-width space, soft hyphen, word joiner,
# byte order mark...), so "invoice<U+200B>.pdf" cannot pass for "invoice.pdf", and the line and paragraph
# separators (Zl, Zp), which end a line for a script that splits lines as Python does ("notes<U+2028>[C] ..." read
# as two). The two joiners some writing needs stay, where it needs them (``_joiner_in_place``).
ZWNJ, ZWJ = "\u200c", "\u200d"
_VIRAMA = 9  # the canonical combining class of a virama (Devanagari, Bengali, Tamil...)


MAX_PASSWORD = 256  # characters; the tracker refuses longer, so every door says the same
MIN_NEW_PASSWORD = 8  # for accounts made in the browser (scripts keep any length, as the contract has none)


def check_id(value: object, what: str = "id") -> str:
    """Return ``value`` if it is a valid user or group id, else raise BadInput naming ``what``."""
    if not isinstance(value, str) or not ID_RE.fullmatch(value) or value in (".", ".."):
        # "." and ".." would be path steps in every address that names the id (/groups/..): never an id
        raise BadInput(f"invalid {what}: use 1-64 characters of A-Z a-z 0-9 . _ -, not . or ..")
    return value


def is_valid_file_name(value: object) -> bool:
    if not isinstance(value, str) or value in ("", ".", ".."):
        return False
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates
        return False
    if size > MAX_FILE_NAME_BYTES:
        return False
    for i, ch in enumerate(value):
        if ch in _FORBIDDEN or ch in BIDI_CONTROLS:
            return False
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Zl", "Zp") or (category == "Cf" and not _joiner_in_place(value, i)):
            return False
    return True


def _joiner_in_place(value: str, i: int) -> bool:
    """A zero-width (non-)joiner where writing needs one: after a virama (RFC 5892's contexts for domain
    names, which browsers apply), a non-joiner between two letters of a joining script (Persian's "mi-khaham"),
    a joiner between emoji (family and profession sequences). Anywhere else it is an invisible difference."""
    ch = value[i]
    if ch not in (ZWNJ, ZWJ) or i == 0 or i == len(value) - 1:
        return False
    before, after = value[i - 1], value[i + 1]
    if unicodedata.combining(before) == _VIRAMA:
        return True
    if ch == ZWNJ:
        return _joining_letter(before) and _joining_letter(after)
    emoji_before = unicodedata.category(before) in ("So", "Sk") or before == "\ufe0f"  # Sk: skin tones
    return emoji_before and unicodedata.category(after) == "So"


def _joining_letter(ch: str) -> bool:
    # Arabic and the scripts after it in the code space join their letters; Latin, Greek, Cyrillic do not
    return ch >= "\u0600" and unicodedata.category(ch)[0] in "LM"


def check_file_name(value: object) -> str:
    """Return ``value`` if it is a valid file name, else raise BadInput."""
    if not is_valid_file_name(value):
        raise BadInput(
            "invalid file name: 1-255 bytes of UTF-8, no '/', '\\', NUL or control characters (text direction "
            "controls, invisible characters and line separators included), not '.' or '..'"
        )
    assert isinstance(value, str)
    return value
