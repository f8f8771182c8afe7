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
# A new name (a file shared from now on) is also refused the other invisible format characters (category Cf:
# zero-width space, soft hyphen, word joiner, byte order mark...), so "invoice<U+200B>.pdf" cannot pass for
# "invoice.pdf", and the line and paragraph separators (Zl, Zp), which end a line for a script that splits lines as
# Python does ("notes<U+2028>[C] ..." read as two). Only new names: a file listed, shared or downloaded under such
# a name before stays reachable by it (refusing it everywhere dropped it from the node's state at start, and the
# tracker could neither serve nor end its listing). The joiners some writing needs stay where it needs them
# (``_joiner_in_place``).
ZWNJ, ZWJ = "\u200c", "\u200d"
_VIRAMA = 9  # the canonical combining class of a virama (Devanagari, Bengali, Tamil...)
_BLACK_FLAG, _TAGS, _CANCEL_TAG = "\U0001f3f4", ("\U000e0020", "\U000e007e"), "\U000e007f"  # flag tag sequences
# Scripts whose letters join (Unicode's Joining_Type), where a non-joiner between two letters is spelling
_JOINING_SCRIPTS = ((0x0600, 0x08FF), (0x1800, 0x18AF), (0xA840, 0xA87F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF),
                    (0x10AC0, 0x10AFF), (0x10B80, 0x10BAF), (0x10D00, 0x10D3F), (0x10F30, 0x10F6F),
                    (0x1E900, 0x1E95F))


MAX_PASSWORD = 256  # characters; the tracker refuses longer, so every door says the same
MIN_NEW_PASSWORD = 8  # for accounts made in the browser (scripts keep any length, as the contract has none)


def check_id(value: object, what: str = "id") -> str:
    """Return ``value`` if it is a valid user or group id, else raise BadInput naming ``what``."""
    if not isinstance(value, str) or not ID_RE.fullmatch(value) or value in (".", ".."):
        # "." and ".." would be path steps in every address that names the id (/groups/..): never an id
        raise BadInput(f"invalid {what}: use 1-64 characters of A-Z a-z 0-9 . _ -, not . or ..")
    return value


def is_valid_file_name(value: object) -> bool:
    """A name a file may have: the one any listed, shared or downloaded file has (see ``is_valid_new_file_name``
    for a file shared from now on)."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        return False
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates
        return False
    if size > MAX_FILE_NAME_BYTES:
        return False
    return not any(ch in _FORBIDDEN or ch in BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs")
                   for ch in value)


def is_valid_new_file_name(value: object) -> bool:
    """A name a file may be shared under from now on: no invisible difference, no line break."""
    if not is_valid_file_name(value):
        return False
    assert isinstance(value, str)
    for i, ch in enumerate(value):
        category = unicodedata.category(ch)
        if category in ("Zl", "Zp") or (category == "Cf" and not _joiner_in_place(value, i)):
            return False
    return True


def _joiner_in_place(value: str, i: int) -> bool:
    """An invisible character where writing needs it: a zero-width (non-)joiner next to a virama (RFC 5892's
    context for domain names, which browsers apply, after it; Bengali's ra-phala puts the joiner before it), a
    non-joiner between two letters of a joining script (Persian's "mi-khaham"), a joiner between emoji (family
    and profession sequences), the tags of a subdivision flag. Anywhere else it is an invisible difference."""
    ch = value[i]
    before, after = value[i - 1] if i else "", value[i + 1] if i + 1 < len(value) else ""
    if _TAGS[0] <= ch <= _TAGS[1] or ch == _CANCEL_TAG:
        return before == _BLACK_FLAG or _TAGS[0] <= before <= _TAGS[1]
    if ch not in (ZWNJ, ZWJ) or not before or not after:
        return False
    if unicodedata.combining(before) == _VIRAMA or (ch == ZWJ and unicodedata.combining(after) == _VIRAMA):
        return True
    if ch == ZWNJ:
        return _joining_letter(before) and _joining_letter(after)
    emoji_before = unicodedata.category(before) in ("So", "Sk") or before == "\ufe0f"  # Sk: skin tones
    return emoji_before and unicodedata.category(after) == "So"


def _joining_letter(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LM" and any(lo <= ord(ch) <= hi for lo, hi in _JOINING_SCRIPTS)


def check_file_name(value: object) -> str:
    """Return ``value`` if a file may have that name, else raise BadInput."""
    if not is_valid_file_name(value):
        raise BadInput(
            "invalid file name: 1-255 bytes of UTF-8, no '/', '\\', NUL or control characters (text direction "
            "controls included), not '.' or '..'"
        )
    assert isinstance(value, str)
    return value


def check_new_file_name(value: object) -> str:
    """Return ``value`` if a file may be shared under that name from now on, else raise BadInput."""
    check_file_name(value)
    if not is_valid_new_file_name(value):
        raise BadInput("invalid file name: no invisible characters (a zero-width space, a soft hyphen...) or line "
                       "separators, which would make it look like another name; rename the file")
    assert isinstance(value, str)
    return value
