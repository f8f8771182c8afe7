"""Tab completion at the prompt: command names first, then each argument by its kind in the command table: paths
from the disk, and group ids, file names and requesters from what the node knows (``completion_cache``: the
groups the command's ``Scope`` means, and the files or requests of the group named before).

Pure apart from listing a directory (``list_dir``, injected) and the known values (``Values``, injected: the
console's reads the cache, and asks in the background for what is missing, so Tab never waits on the tracker).
Readline hands over the line, and the span it will replace (``begidx:endidx``: the text after the last space, as
the console sets its word delimiters to white space only, so a path's ``/`` and ``.`` stay in its word). The word
being completed is found by shell rules, as ``parse_line`` will split it (``my\\ notes.txt`` or ``"my notes.txt"``
is one word), and each candidate is written the same way, quoted as the user began it; readline gets only the part
from ``begidx`` on, since it keeps what comes before. A known value (a file name may hold spaces and quotes) is the
word as typed so far, then the rest of the value escaped as the open quote (or none) needs, then the quote closed:
split back, it is the value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from peer_node.commands import COMMANDS, Command

PATH_ARGS = frozenset({"file_path", "destination_path"})
CONSOLE_WORDS = ("quit", "exit")  # the prompt's own, beside the commands'
_SHELL_SPECIAL = frozenset(" \t\r\n'\"\\")  # what shlex.split would read otherwise than as itself

ListDir = Callable[[str], list[tuple[str, bool]]]
# The values argument ``at`` of ``cmd`` may take that begin with ``partial``; ``group``: the group named before
# it on the line (None: none there).
Values = Callable[[Command, int, str | None, str], Sequence[str]]


def no_values(cmd: Command, at: int, group: str | None, partial: str) -> Sequence[str]:
    return ()


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
    return (quote or "") + escaped(text, quote)


def escaped(text: str, quote: str | None) -> str:
    """``text`` written inside an open ``quote`` (None: outside any) so that shell rules read it back as itself.
    In single quotes nothing is special but the quote, so a ``'`` closes it, comes escaped, and opens it again."""
    if quote == "'":
        return text.replace("'", "'\\''")
    if quote == '"':
        return text.replace("\\", "\\\\").replace('"', '\\"')
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


def value_words(typed: str, partial: str, quote: str | None, found: Sequence[str]) -> list[str]:
    """Whole words for the values that begin with ``partial`` (the word as split so far; ``typed``: as typed),
    each closed and followed by a space: the next argument comes."""
    dangling = quote is None and (len(typed) - len(typed.rstrip("\\"))) % 2 == 1  # a backslash escaping nothing yet
    out: list[str] = []
    for value in found:
        rest = value[len(partial):]
        if not value.startswith(partial) or (dangling and not rest):
            continue
        head = rest[:1] if dangling else ""  # the typed backslash escapes the value's next character, whatever it is
        out.append(typed + head + escaped(rest[len(head):], quote) + (quote or "") + " ")
    return out


def completions(line: str, begidx: int, endidx: int, entries: ListDir = list_dir,
                values: Values = no_values) -> list[str]:
    """What may replace ``line[begidx:endidx]``."""
    words, start, partial, quote = split_head(line[:endidx])
    if start > begidx:  # readline's word and ours disagree: nothing rather than a wrong line
        return []
    typed = line[start:endidx]
    if not words:
        names = [f"{name} " for name in (*COMMANDS, *CONSOLE_WORDS)]
        candidates = [w for w in names if w.startswith(partial)] if quote is None else []
    else:
        cmd = COMMANDS.get(words[0])
        at = len(words) - 1  # which argument the word is
        if cmd is None or at >= len(cmd.args):
            return []
        if cmd.args[at] in PATH_ARGS:
            candidates = path_words(partial, quote, entries)
        else:
            group = words[1 + cmd.args.index("group_id")] if "group_id" in cmd.args[:at] else None
            candidates = value_words(typed, partial, quote, values(cmd, at, group, partial))
    return [c[begidx - start:] for c in candidates if c.startswith(typed)]
