"""``bench/log_compaction.py`` is a one-off measure, not run by ``make bench``: this keeps it from rotting (it runs
the tracker's own compaction, so a change there that breaks it shows here), on a small log."""

from __future__ import annotations

from pathlib import Path

from bench import log_compaction


async def test_the_compaction_measure_runs_and_reports_what_it_deleted(tmp_path: Path) -> None:
    db = tmp_path / "t" / "tracker.sqlite3"
    await log_compaction._build(db, 600, 4)
    figures = await log_compaction._measure(db, 100)
    assert figures["deleted"] > 0
    assert figures["size_after_mb"] > 0 and figures["snapshot_after_mb"] > 0
    assert figures["writes_during"] >= 0
