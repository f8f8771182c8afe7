"""What a node that cannot start says: one ``client: error: ...`` line, never a traceback.

Theory of operation: at start the node reads and writes its state under ``--data-dir`` (the lock, the API key, its
TLS identity, the browser's session files, the JSON documents). What goes wrong there is the machine's state, not
a bug: a full disk, a directory where a file should be, a file without permission. Python says those as an
OSError that names the file, or a ValueError from a parser. ``start_error`` turns either into the one line the
user reads; the caller prints it and exits 1, as for the other start errors (a port in use, a data dir in use).
A bind error is an OSError too, but names no file: the caller tells it apart by that and says it its own way.
"""

from __future__ import annotations

from pathlib import Path


def names_a_file(exc: OSError) -> bool:
    """Whether ``exc`` is about a file (the data dir's) rather than a socket (whose errors name no file)."""
    return exc.filename is not None


def start_error(exc: OSError | ValueError, data_dir: Path) -> str:
    """The message (without ``client: error: ``) for a start that failed on ``exc``."""
    if isinstance(exc, OSError):
        what = exc.filename if exc.filename is not None else data_dir
        why = exc.strerror or str(exc)
        return f"cannot start: {what}: {why} (a file of the node's data directory {data_dir}; free space or move " \
               f"the file aside, then start again)"
    return f"cannot start: {exc} (in the node's data directory {data_dir})"
