"""What one open page's event stream sends about the downloads: only what changed since its last message.

A node with 40 downloads, 8 of them running, used to send all 40 rows (25 kB with their piece maps) to every open
page at every change, more than twice a second: 60 kB/s a tab, and the page rewrote every row each time. Now the
first message carries every row and the order; each later one carries only the rows whose words changed, the
order only when it changed (a row added, gone or moved), and the node-wide fields only when they changed; a
round with no change sends nothing. Rows a page does not list (another view of the downloads page, or a page
without download rows) go brief (``download_words.brief_json``: enough to count them and to announce and notify an end),
and change only when a download's state does.

Pure: rows come in as (key, JSON text), and ``update`` returns the message's JSON text or None.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


class LiveRows:
    def __init__(self) -> None:
        self._rows: dict[str, str] = {}
        self._order: list[str] | None = None
        self._fields: dict[str, str] = {}

    def update(self, rows: Sequence[tuple[str, str]], fields: Mapping[str, Any]) -> str | None:
        """The message for this round (``rows`` in page order, ``fields`` the node-wide words), or None when the
        page already shows all of it."""
        order = [key for key, _ in rows]
        changed = [text for key, text in rows if self._rows.get(key) != text]
        parts = []
        if order != self._order:
            parts.append(f'"order":{json.dumps(order)}')
        if changed:
            parts.append(f'"rows":[{",".join(changed)}]')
        for name, value in fields.items():
            text = json.dumps(value, separators=(",", ":"))
            if self._fields.get(name) != text:
                parts.append(f"{json.dumps(name)}:{text}")
                self._fields[name] = text
        self._rows = dict(rows)
        self._order = order
        return "{" + ",".join(parts) + "}" if parts else None

