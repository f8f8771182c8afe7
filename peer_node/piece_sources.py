"""Who gave which part of a file, kept with a finished download so its piece map keeps each member's colour.

While a download runs, its engine knows the member behind every piece; the record outlives the engine, and a
per-piece map (thousands of entries for a big file) is too much for ``downloads.json``. The piece map never
draws more than ``MAP_CELLS`` cells, so the record keeps what the map can show: for each cell, the one member who
gave all of its pieces, or "" (several members, or pieces from before a restart).

Pure. ``cell_bounds`` is the one bucketing of pieces into cells, used by the map too (``web_ui/download_words.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

MAP_CELLS = 120


def cell_bounds(piece_count: int, max_cells: int = MAP_CELLS) -> list[tuple[int, int]]:
    """The pieces [lo, hi) of each cell when ``piece_count`` pieces are drawn in at most ``max_cells`` cells."""
    count = min(piece_count, max_cells)
    return [(i * piece_count // count, (i + 1) * piece_count // count) for i in range(count)]


def summarize(sources: Mapping[int, str], piece_count: int) -> list[str]:
    """Per cell, the member who gave all of its pieces, else ""."""
    out = []
    for lo, hi in cell_bounds(piece_count):
        givers = {sources.get(k, "") for k in range(lo, hi)}
        out.append(givers.pop() if len(givers) == 1 else "")
    return out


def expand(summary: Sequence[str], piece_count: int) -> dict[int, str]:
    """Back to piece -> member, for the pieces of the cells one member gave (what the map needs to colour them).
    A summary with another number of cells (a record from another version) gives nothing."""
    bounds = cell_bounds(piece_count)
    if len(summary) != len(bounds):
        return {}
    return {k: who for who, (lo, hi) in zip(summary, bounds, strict=True) if who for k in range(lo, hi)}
