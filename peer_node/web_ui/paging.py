"""Which slice of a long list a page shows (pure: tested without a server).

A group of a class may hold thousands of files. Every row on one page made it megabytes of HTML that took seconds
to load, and filtering it in the browser froze the tab for ten seconds and more (the browser lays out every row it
shows or hides again). So past ``PAGE_ROWS`` a list comes in pages, and its filter runs on the node over all rows.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE_ROWS = 100


@dataclass(frozen=True, slots=True)
class Page:
    number: int  # 1-based
    count: int  # how many pages the rows make (1 for none)
    start: int  # the rows shown are rows[start:stop]
    stop: int
    total: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.count else None


def page_of(total: int, asked: str | None, per_page: int = PAGE_ROWS, holding: int | None = None) -> Page:
    """The page ``asked`` for (a query value: anything that is not a page number in range means the nearest one),
    or the page of row ``holding`` when given (a refused form's row, so its error shows next to it)."""
    count = max(1, -(-total // per_page))
    if holding is not None and 0 <= holding < total:
        number = holding // per_page + 1
    else:
        number = int(asked) if asked is not None and asked.isascii() and asked.isdigit() and len(asked) < 9 else 1
        number = min(max(number, 1), count)
    start = (number - 1) * per_page
    return Page(number, count, start, min(start + per_page, total), total)
