"""``bench/log_compaction.py`` and ``bench/snapshot_stall.py`` are one-off measures, not run by ``make bench``: this
keeps them from rotting (they run the tracker's own compaction and snapshots, so a change there that breaks them
shows here), on a small log."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import log_compaction, snapshot_stall


async def test_the_compaction_measure_runs_and_reports_what_it_deleted(tmp_path: Path) -> None:
    db = tmp_path / "t" / "tracker.sqlite3"
    await log_compaction._build(db, 600, 4)
    figures = await log_compaction._measure(db, 100)
    assert figures["deleted"] > 0
    assert figures["size_after_mb"] > 0 and figures["snapshot_after_mb"] > 0
    assert figures["writes_during"] >= 0


async def test_the_snapshot_stall_measure_runs_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    """``bench/snapshot_stall.py`` (a one-off measure too) prepares and takes a snapshot on the loop and in a
    thread, on a small log: each way prints its line."""
    await snapshot_stall.main(300, 4)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["loop", "thread", "loop", "thread"]
    assert all("secondary takes it" in line for line in lines)
