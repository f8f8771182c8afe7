"""The prompt's history, kept across restarts in the node's data directory (``console-history``).

What a line leaves in the history is decided here (``history_entry``, pure): a password never, so a line of
``login`` or ``create_user`` is kept without it (``login alice``: brought back with the up arrow, the password is
typed again), and a line whose command is unknown is not kept at all: ``logn alice s3cret`` or ``Login ...`` would
hold a password we cannot tell from an id; nor one with more words than its command takes, which could not run and
may hold anything past them (``logout alice s3cret``: a login typed, or Tab-completed from ``lo``, as ``logout``).
As in bash's ``ignorespace``, a line typed with a space first is not
kept either, nor one with a control character or a line separator in it: the file is read back by
``str.splitlines``, which ends a line at more than ``\n`` (``\x0b``, ``\x0c``, ``\x1c``-``\x1e``, ``\x85``, U+2028,
U+2029), so ``list_files g1<U+2028>login alice s3cret`` (pasted) would have carried a password into the file; and
readline refuses a NUL (a damaged file's) by raising, which cost the prompt its line editing. The file is the last
``HISTORY_LINES`` entries, one a line, rewritten whole (``write_atomic``: mode 0600, never half a file); what is
read back passes the same rule again, so a hand-edited file cannot bring a password line to the screen.
"""

from __future__ import annotations

import shlex
import unicodedata
from pathlib import Path

from peer_node.commands import COMMANDS, MAX_LINE_BYTES
from peer_node.data_files import write_atomic

HISTORY_NAME = "console-history"
HISTORY_LINES = 1000
SECRET_ARG = "passwd"


def history_entry(line: str) -> str | None:
    """What the typed ``line`` (without its newline) leaves in the history, or None for nothing."""
    text = line.strip()
    if not text or line[:1].isspace() or not _one_line(text):
        return None
    if any("\udc80" <= ch <= "\udcff" for ch in text):  # not UTF-8: the console refuses it, and so do we
        return None
    if len(text.encode("utf-8")) > MAX_LINE_BYTES:  # refused as too long: nothing to bring back
        return None
    try:
        words: list[str] | None = shlex.split(text)
    except ValueError:  # an unclosed quote: kept as typed, to be put right with the arrows
        words = None
    cmd = COMMANDS.get(words[0] if words else text.split()[0])
    if cmd is None:
        return None
    if SECRET_ARG in cmd.args:
        if words is None:  # which word is the password cannot be told
            return None
        return shlex.join(words[:cmd.args.index(SECRET_ARG) + 1])
    if _word_count(text, words) > 1 + len(cmd.args):
        return None
    return text


def _word_count(text: str, words: list[str] | None) -> int:
    """How many words ``text`` has (``words``: its shell words, None for an unclosed quote, counted as if closed)."""
    if words is not None:
        return len(words)
    for closing in ("'", '"'):
        try:
            return len(shlex.split(text + closing))
        except ValueError:
            continue
    return len(text.split())  # a trailing backslash: a word per stretch of white space


def _one_line(text: str) -> bool:
    """Whether ``text`` reads back as itself, one line (the module docstring): no control character (``\\n``,
    ``\\r``, NUL and the rest of C0 and C1) and no line or paragraph separator."""
    return not any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def kept(entries: list[str]) -> list[str]:
    """The entries that may be written or shown: each one its own ``history_entry``, the newest HISTORY_LINES."""
    return [e for e in entries if history_entry(e) == e][-HISTORY_LINES:]


def load_history(path: Path) -> list[str]:
    """The saved history, oldest first; nothing when there is none or it cannot be read (it is only a help)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    return kept(data.decode("utf-8", "replace").splitlines())


def save_history(path: Path, entries: list[str]) -> None:
    """Write the history whole (OSError when it cannot be written)."""
    write_atomic(path, "".join(f"{e}\n" for e in kept(entries)).encode("utf-8"))
