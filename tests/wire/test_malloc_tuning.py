"""``wire.malloc_tuning``: with glibc's thresholds fixed at start, the 16 MiB that each login's offline password
check (scrypt, ``peer_node.login_state``) takes in an executor thread goes back to the system when the check is
done, instead of staying in that thread's heap (a soak's node grew 66 -> 209 MB that way)."""

from __future__ import annotations

import ctypes
import platform
import subprocess
import sys
from pathlib import Path

import pytest

import peer_node.__main__ as node_main
from tests.support.cluster import ROOT

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not hasattr(ctypes.CDLL(None), "mallinfo2"),
                                reason="glibc's allocator (2.33+ for mallinfo2)")

# Two rounds of four logins at once, each check in a thread of its own as asyncio.to_thread runs them; prints the
# bytes glibc then holds free in its heaps.
_LOGINS_IN_THREADS = """
import ctypes, sys, tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from peer_node import login_state
from wire.malloc_tuning import fix_malloc_thresholds
if sys.argv[1] == "fixed":
    assert fix_malloc_thresholds()
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
data_dir = Path(tempfile.mkdtemp())
with ThreadPoolExecutor(4) as pool:
    for _round in range(2):
        for done in [pool.submit(login_state.remember, data_dir, "alice", "pw") for _ in range(4)]:
            done.result()
    print(libc.mallinfo2().fordblks)
"""


def _free_in_heaps(mode: str) -> int:
    run = subprocess.run([sys.executable, "-c", _LOGINS_IN_THREADS, mode], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    return int(run.stdout)


@glibc_only
def test_the_memory_of_password_checks_in_threads_is_given_back_once_the_thresholds_are_fixed() -> None:
    kept_by_default = _free_in_heaps("default")
    kept_when_fixed = _free_in_heaps("fixed")
    assert kept_by_default >= 32 << 20  # the case fixed: glibc's own rule keeps 16 MiB in each thread's heap
    assert kept_when_fixed < 4 << 20, (kept_when_fixed, kept_by_default)


def test_the_node_fixes_the_thresholds_before_it_reads_its_arguments(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    calls: list[int] = []

    def fix() -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr(node_main, "fix_malloc_thresholds", fix)
    assert node_main.main(["127.0.0.1:6881", str(tmp_path / "no-such-list.txt")]) == 2  # refused after the fix
    assert calls == [1]
