"""Parser of the tracker list file (``tracker_info.txt``).

Accepted forms, one tracker an entry, file order is rank (entry 1 is the preferred primary):
``IP:PORT``, ``IP PORT`` (an optional third word is an id), or the IP and the port on alternate lines.
Blank lines and lines starting with ``#`` are ignored. Pure: ``parse_tracker_list`` takes text, so it is
fuzzable; ``load_tracker_list`` adds the file read.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class TrackerListError(ValueError):
    """The tracker list is malformed; the message names the line."""


@dataclass(frozen=True, slots=True)
class TrackerAddress:
    host: str
    port: int
    rank: int  # 1-based position in the file
    name: str | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def _check_host(word: str, line_no: int) -> str:
    try:
        ipaddress.ip_address(word)
    except ValueError:
        if len(word) > 253 or not _HOSTNAME_RE.fullmatch(word):
            raise TrackerListError(f"line {line_no}: {word!r} is not an IP address or host name") from None
    return word


def port_number(word: str) -> int | None:
    """``word`` as a TCP port (ASCII digits only: ``int`` would also take ``٨٠``), or None."""
    return int(word) if word.isascii() and word.isdigit() and 1 <= int(word) <= 65535 else None


def _check_port(word: str, line_no: int) -> int:
    port = port_number(word)
    if port is None:
        raise TrackerListError(f"line {line_no}: {word!r} is not a port (1-65535)")
    return port


def _split_host_port(word: str, line_no: int) -> tuple[str, int] | None:
    """``IP:PORT`` or ``[v6]:PORT`` in one word, or None if the word has no port part."""
    if word.startswith("["):
        host, sep, port = word[1:].partition("]:")
        if not sep:
            raise TrackerListError(f"line {line_no}: {word!r} is not [IPv6]:PORT")
        return _check_host(host, line_no), _check_port(port, line_no)
    if word.count(":") == 1:
        host, _, port = word.partition(":")
        return _check_host(host, line_no), _check_port(port, line_no)
    return None


def parse_tracker_list(text: str) -> list[TrackerAddress]:
    """Parse the file's text into trackers in rank order; raise TrackerListError naming the bad line."""
    entries: list[TrackerAddress] = []
    lines: list[int] = []  # the line each entry ends on, for errors
    pending_host: tuple[str, int] | None = None  # (host, line_no) waiting for its port line
    text = text.removeprefix("\ufeff")  # a byte-order mark, as Windows editors write one
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if pending_host is not None:
            host, host_line = pending_host
            if len(words) != 1:
                raise TrackerListError(f"line {line_no}: expected the port for the host on line {host_line}")
            entries.append(TrackerAddress(host, _check_port(words[0], line_no), len(entries) + 1))
            lines.append(line_no)
            pending_host = None
            continue
        joined = _split_host_port(words[0], line_no)
        if joined is not None:
            if len(words) > 2:
                raise TrackerListError(f"line {line_no}: expected IP:PORT [id], got {line!r}")
            name = words[1] if len(words) == 2 else None
            entries.append(TrackerAddress(joined[0], joined[1], len(entries) + 1, name))
            lines.append(line_no)
        elif len(words) == 1:
            pending_host = (_check_host(words[0], line_no), line_no)
        elif len(words) <= 3:
            name = words[2] if len(words) == 3 else None
            host = _check_host(words[0], line_no)
            entries.append(TrackerAddress(host, _check_port(words[1], line_no), len(entries) + 1, name))
            lines.append(line_no)
        else:
            raise TrackerListError(f"line {line_no}: expected IP:PORT or IP PORT [id], got {line!r}")
    if pending_host is not None:
        raise TrackerListError(f"line {pending_host[1]}: host {pending_host[0]!r} has no port line after it")
    if not entries:
        raise TrackerListError("line 1: the tracker list names no tracker")
    _refuse_repeats(entries, lines)
    return entries


def _refuse_repeats(entries: list[TrackerAddress], lines: list[int]) -> None:
    """One address per tracker: two entries on one host:port would make two tracker numbers one process (the
    second could never bind), and replication count one tracker twice."""
    seen: dict[tuple[str, int], int] = {}
    for entry, line_no in zip(entries, lines, strict=True):
        host = entry.host.lower()
        key = ("127.0.0.1" if host == "localhost" else host, entry.port)  # one tracker, however it is written
        if key in seen:
            raise TrackerListError(f"line {line_no}: {entry} is already tracker {seen[key]}; one address per "
                                   "tracker")
        seen[key] = entry.rank


def load_tracker_list(path: str | Path) -> list[TrackerAddress]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TrackerListError(f"cannot read tracker list {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TrackerListError(f"line 1: tracker list {path} is not UTF-8 text") from None
    try:
        return parse_tracker_list(text)
    except TrackerListError as exc:  # which file, too: a node and its trackers may each be given another
        raise TrackerListError(f"{path}: {exc}") from None
