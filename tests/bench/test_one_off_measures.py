"""``bench/log_compaction.py``, ``bench/snapshot_stall.py`` and ``bench/memory_soak.py`` are one-off measures, not
run by ``make bench``: this keeps them from rotting (they run the tracker's own compaction and snapshots, and real
nodes, so a change there that breaks them shows here), on a small log or a single cycle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import log_compaction, memory_soak, snapshot_stall
from tests.support.cluster import ROOT


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


def test_the_memory_soak_runs_a_cycle_on_both_checkouts_and_samples_their_rss(tmp_path: Path) -> None:
    """One cycle of ``bench/memory_soak.py`` with this checkout compared with itself: both downloaders do the
    cycle's downloads, pause, resume and logout, and each sample has both RSS figures."""
    cycles, rows = memory_soak.soak(tmp_path, minutes=10, compare=ROOT, max_cycles=1)
    assert cycles == 1 and len(rows) >= 2
    assert all(rss["this"] > 0 and rss["base"] > 0 for _t, rss in rows)
    assert "this RSS" in memory_soak.table(rows)


def test_the_memory_probe_writes_samples_of_what_the_allocator_holds(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(memory_soak.PROBE), "GS_MEMPROBE_DIR": str(tmp_path),
           "GS_MEMPROBE_EVERY": "0.05"}
    (tmp_path / "snap-request").touch()
    script = ("import os, time\n"
              "while not os.path.exists(os.path.join(os.environ['GS_MEMPROBE_DIR'], 'malloc-1.xml')):\n"
              "    time.sleep(0.05)\n")
    subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, timeout=60, check=True)
    sample = json.loads((tmp_path / "samples.jsonl").read_text("utf-8").splitlines()[0])
    assert sample["rss"] > 0 and sample["objects"] > 0 and sample["used"] > 0
