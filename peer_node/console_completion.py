"""Tab completion at the prompt: command names first, then paths where a command takes one.

Pure apart from listing a directory (``list_dir``, injected). Readline hands over the line, and the span it will
replace (``begidx:endidx``: the text after the last space, as the console sets its word delimiters to white space
only, so a path's ``/`` and ``.`` stay in its word). The word being completed is found by shell rules, as
``parse_line`` will split it (``my\\ notes.txt`` or ``"my notes.txt"`` is one word), and each candidate is written
the same way, quoted as the user began it; readline gets only the part from ``begidx`` on, since it keeps what
comes before.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from peer_node.commands import COMMANDS

PATH_ARGS = frozenset({"file_path", "destination_path"})
CONSOLE_WORDS = ("quit", "exit")  # the prompt's own, beside the commands'
_SHELL_SPECIAL = frozenset(" \t\r\n'\"\\")  # what shlex.split would read otherwise than as itself

ListDir = Callable[[str], list[tuple[str, bool]]]


def list_dir(directory: str) -> list[tuple[str, bool]]:
    """The entries of ``directory`` as (name, is a directory); none when it cannot be read."""
    try:
        with os.scandir(directory) as entries:
            return [(e.name, _is_dir(e)) for e in entries]
    except OSError:
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # a link to a folder is one to complete into
    except OSError:
        return False


def split_head(head: str) -> tuple[list[str], int, str, str | None]:
    """Shell words of ``head`` (the line up to the cursor): the finished words, where the last one (being typed,
    maybe empty) starts in ``head``, its text so far, and the quote it is still inside (None)."""
    words: list[str] = []
    cur: list[str] = []
    start: int | None = None
    quote: str | None = None
    i, n = 0, len(head)
    while i < n:
        c = head[i]
        if quote == "'":
            if c == "'":
                quote = None
            else:
                cur.append(c)
        elif quote == '"':
            if c == '"':
                quote = None
            elif c == "\\" and i + 1 < n and head[i + 1] in '"\\':
                i += 1
                cur.append(head[i])
            else:
                cur.append(c)
        elif c in " \t\r\n":
            if start is not None:
                words.append("".join(cur))
                cur, start = [], None
        else:
            if start is None:
                start = i
            if c == "\\":
                if i + 1 < n:
                    i += 1
                    cur.append(head[i])
            elif c in "'\"":
                quote = c
            else:
                cur.append(c)
        i += 1
    return words, n if start is None else start, "".join(cur), quote


def quoted(text: str, quote: str | None) -> str | None:
    """``text`` as one shell word begun with ``quote`` (left open), or backslashes; None if it cannot be."""
    if quote == "'":
        return None if "'" in text else "'" + text
    if quote == '"':
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"')
    return "".join("\\" + c if c in _SHELL_SPECIAL else c for c in text)


def path_words(partial: str, quote: str | None, entries: ListDir) -> list[str]:
    """Whole words for the paths that begin with ``partial``: a folder ends in ``/`` (to go on into it), a file
    in its closing quote and a space (the next argument comes). Hidden names only when asked for with a dot."""
    folder, _, base = partial.rpartition("/")
    folder = folder + "/" if "/" in partial else ""
    out: list[str] = []
    for name, is_dir in sorted(entries(os.path.expanduser(folder) if folder else ".")):
        if not name.startswith(base) or (name.startswith(".") and not base.startswith(".")):
            continue
        word = quoted(folder + name + ("/" if is_dir else ""), quote)
        if word is not None:
            out.append(word if is_dir else word + (quote or "") + " ")
    return out


def completions(line: str, begidx: int, endidx: int, entries: ListDir = list_dir) -> list[str]:
    """What may replace ``line[begidx:endidx]``."""
    words, start, partial, quote = split_head(line[:endidx])
    if start > begidx:  # readline's word and ours disagree: nothing rather than a wrong line
        return []
    if not words:
        names = [f"{name} " for name in (*COMMANDS, *CONSOLE_WORDS)]
        candidates = [w for w in names if w.startswith(partial)] if quote is None else []
    else:
        cmd = COMMANDS.get(words[0])
        at = len(words) - 1  # which argument the word is
        if cmd is None or at >= len(cmd.args) or cmd.args[at] not in PATH_ARGS:
            return []
        candidates = path_words(partial, quote, entries)
    typed = line[start:endidx]
    return [c[begidx - start:] for c in candidates if c.startswith(typed)]
