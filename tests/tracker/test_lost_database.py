"""A data dir that held a tracker's state whose database is now empty or missing (a full disk, a bad copy) is
refused at start, the database left as found, with the way out; a brand-new data dir starts as before, and
deleting the mark starts empty on purpose."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tracker_server import app as app_module
from tracker_server.state_mark import MARK_FILE, StateLost

from .helpers import AppFactory
from .procs import ROOT, TrackerProc, wait_healthy, write_tracker_list

DB = "tracker.sqlite3"


async def _used(start_tracker: AppFactory, data: Path) -> None:
    """A data dir with a user in it, its tracker stopped; a restart still finds the user (no refusal)."""
    api = await start_tracker()
    await api.user("alice")
    await api.client.close()
    api = await start_tracker()
    await api.login("alice")
    await api.client.close()
    for extra in ("-wal", "-shm"):
        (data / (DB + extra)).unlink(missing_ok=True)


@pytest.mark.parametrize("loss", ["emptied", "deleted"])
async def test_a_used_data_dir_whose_database_is_lost_is_refused_and_left_as_found(
        start_tracker: AppFactory, tmp_path: Path, loss: str) -> None:
    data = tmp_path / "data"
    await _used(start_tracker, data)
    if loss == "emptied":
        (data / DB).write_bytes(b"")
    else:
        (data / DB).unlink()
    with pytest.raises(StateLost) as refused:
        await start_tracker()
    said = str(refused.value)
    assert f"data dir {data} held a tracker's state" in said
    assert f"delete {data / MARK_FILE}" in said and "from a backup" in said
    assert (data / DB).exists() == (loss == "emptied")  # no new schema written over the evidence
    assert not (data / DB).exists() or (data / DB).stat().st_size == 0


async def test_a_database_made_anew_in_a_used_data_dir_is_refused_too(start_tracker: AppFactory,
                                                                      tmp_path: Path) -> None:
    data = tmp_path / "data"
    await _used(start_tracker, data)
    (data / DB).unlink()
    with sqlite3.connect(data / DB) as db:  # a database with a header and a table, but no epoch recorded
        db.execute("CREATE TABLE t(x)")
    with pytest.raises(StateLost, match="holds no state"):
        await start_tracker()


async def test_deleting_the_mark_starts_empty_on_purpose(start_tracker: AppFactory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    await _used(start_tracker, data)
    (data / DB).write_bytes(b"")
    (data / MARK_FILE).unlink()
    api = await start_tracker()
    assert (await api.ok("GET", "/healthz"))["log_index"] == 0
    assert (data / MARK_FILE).exists()  # and the new state is protected from now on


def test_the_refusal_is_one_line_and_exit_1_and_a_fresh_dir_still_starts(tmp_path: Path) -> None:
    list_file, ports = write_tracker_list(tmp_path, 1)
    data = tmp_path / "data"
    fresh = TrackerProc(list_file, 1, data)
    try:
        wait_healthy(ports[0])
        assert "empty: a new cluster starts here" in fresh.banner
    finally:
        fresh.stop()
    for extra in ("-wal", "-shm"):
        (data / (DB + extra)).unlink(missing_ok=True)
    (data / DB).write_bytes(b"")
    run = subprocess.run([str(ROOT / "tracker"), str(list_file), "1", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert run.returncode == 1, run.stderr
    assert run.stderr.startswith(f"tracker: data dir {data} held a tracker's state"), run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and (data / DB).stat().st_size == 0


def _open_on(path: Path) -> list[str]:
    """What this process holds open of ``path`` (the database or its -wal/-shm files)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            if (name := os.readlink(f"/proc/self/fd/{fd}")).startswith(str(path)):
                held.append(name)
    return held


async def test_a_start_refused_after_the_database_opened_leaves_it_closed(
        start_tracker: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A refusal past Store.open (the data dir's identity, a port taken by the replicator...) left the store's
    # connection open in the process: its read lock, and its -shm mapping that a later open of the same file shares.
    data = tmp_path / "data"
    await _used(start_tracker, data)

    async def refused(*_args: object) -> None:
        raise RuntimeError("refused at start")

    monkeypatch.setattr(app_module, "_check_identity", refused)
    with pytest.raises(RuntimeError, match="refused at start"):
        await start_tracker()
    assert _open_on(data / DB) == []
    monkeypatch.undo()
    api = await start_tracker()  # and it starts again, with what it held
    assert (await api.ok("GET", "/healthz"))["log_index"] > 0
