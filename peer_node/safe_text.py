"""Text the node sends to a browser or a script, made into bytes that cannot fail.

Why: the node's paths come from the operating system, and a name that is not UTF-8 (a working directory such as
``b'/tmp/x-\\xff'``, a file name from an older system) reaches Python as a str holding lone surrogates
(``os.fsdecode``'s surrogateescape). Such a str has no UTF-8 encoding, so ``web.Response(text=...)`` raised and the
user saw a 500 for a command that had been carried out. At the one place where text becomes an answer's bytes, a
surrogate is written as its escape (``\\udcff``): the answer stays valid UTF-8 and still shows where the odd
byte was; every other character is sent as it is.
"""

from __future__ import annotations


def utf8_bytes(text: str) -> bytes:
    return text.encode("utf-8", "backslashreplace")
