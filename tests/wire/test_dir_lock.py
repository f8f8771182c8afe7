"""``DirLock``: one process per data directory, and no stale lock after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from wire.dir_lock import LOCK_FILE, DataDirError, DirInUse, DirLock

HOLDER = """
import sys, time
from pathlib import Path
from wire.dir_lock import DirLock
DirLock.acquire(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_lock_on_one_directory_is_refused_until_the_first_is_released(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    first = DirLock.acquire(data)
    assert data.is_dir() and (data / LOCK_FILE).read_text("ascii").strip() == str(os.getpid())
    with pytest.raises(DirInUse, match=rf"in use by process {os.getpid()}.*--data-dir"):
        DirLock.acquire(data)
    first.release()
    DirLock.acquire(data).release()
    DirLock.acquire(tmp_path / "other").release()  # a different directory never conflicts


def test_the_lock_of_a_killed_process_is_gone_with_it(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], cwd=root, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DirInUse, match=rf"by process {holder.pid}\b"):
            DirLock.acquire(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    DirLock.acquire(tmp_path).release()  # no stale lock to clean up by hand


def test_a_lock_file_planted_as_a_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me", encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    (data / LOCK_FILE).symlink_to(victim)
    with pytest.raises(DataDirError, match=f"cannot use data directory {data}: "):
        DirLock.acquire(data)
    assert victim.read_text(encoding="utf-8") == "keep me"


def test_a_file_in_the_way_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder", encoding="utf-8")
    with pytest.raises(DataDirError, match=f"^cannot use data directory {tmp_path / 'data'}: something that is not "
                                           "a directory is in the way$"):
        DirLock.acquire(tmp_path / "data")
