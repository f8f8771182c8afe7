"""Text another party wrote, made safe to show: a peer's goodbye reason reaches the user's terminal, log and
``/cmd`` output, and a terminal obeys what it prints.

A reason with escape sequences could set the terminal's title, write to its clipboard (OSC 52), erase lines and
draw fake ones; a right-to-left override or a line separator could disguise or forge a line of ``show_downloads``.
File names are refused at every door for these characters (``wire.names``); free text such as a reason cannot be
refused without losing why a peer closed, so its unsafe characters are replaced instead.

Text the node sends as an answer (``utf8_bytes``) is made into bytes that cannot fail: a path that is not UTF-8 (a
working directory such as ``b'/tmp/x-\\xff'``) reaches Python as a str holding lone surrogates (``os.fsdecode``'s
surrogateescape), which has no UTF-8 encoding, so ``web.Response(text=...)`` raised and the user saw a 500 for a
command that had been carried out. There a surrogate is written as its escape (``\\udcff``): the answer stays valid
UTF-8 and still shows where the odd byte was.
"""

from __future__ import annotations

import unicodedata

REPLACEMENT = "\ufffd"
# Controls (C0, DEL, C1), invisible format characters (bidi controls and zero-width ones included), line and
# paragraph separators, lone surrogates, private use: nothing a reason written in words needs.
_UNSAFE = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co"))


def printable(text: str, keep: str = "") -> str:
    """``text`` with each unsafe character (``keep``: except these, such as a newline) replaced by U+FFFD."""
    if text.isascii() and text.isprintable():  # the usual case, checked in C
        return text
    return "".join(ch if ch in keep or unicodedata.category(ch) not in _UNSAFE else REPLACEMENT for ch in text)


def utf8_bytes(text: str) -> bytes:
    return text.encode("utf-8", "backslashreplace")
