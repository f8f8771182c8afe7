"""Profiling a node from outside with py-spy while the bench times it, and summarising the samples.

Theory of operation: ``py-spy record --gil --format raw`` attaches to the node's pid (no change to the product)
and, when interrupted with SIGINT, writes collapsed stacks: one line per distinct stack, ``frame;frame;...
count``, root first, with ``--threads`` putting the thread first. Only samples of the thread holding the GIL are
kept, so the table shows where Python-level CPU goes; C code that releases the GIL (hashlib on big buffers,
os.pwrite, socket calls) shows up instead in the per-thread CPU seconds, read from /proc with psutil at the
start and end of the window. :func:`summarise` (pure) turns both into text.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bench.procs import REPO, die_with_parent

PY_SPY = shutil.which("py-spy") or str(REPO / ".venv" / "bin" / "py-spy")
RATE = 250  # samples per second: enough resolution for a 5-10 s download, light on the target
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _func(frame: str) -> str:
    """``recv_into (asyncio/selector_events.py:123)`` -> ``recv_into (asyncio/selector_events.py)``."""
    m = _FRAME.match(frame.strip())
    return f"{m.group('func')} ({m.group('file')})" if m else frame.strip()


def summarise(lines: Iterable[str], thread_cpu: dict[int, float] | None = None, process_cpu: float | None = None,
              top: int = 18) -> str:
    lines = list(lines)
    threads: Counter[str] = Counter()
    names: dict[int, str] = {}
    self_time: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, count_s = line.rstrip("\n").rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        n = int(count_s)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "?"
        m = re.match(r"thread \((\d+)\): (.*)", thread)
        if m:
            names[int(m.group(1))] = m.group(2)
        body = [_func(f) for f in frames if not f.startswith(("thread", "process"))]
        total += n
        threads[thread] += n
        if body:
            self_time[body[-1]] += n
        for f in set(body):
            incl[f] += n
    out: list[str] = []
    if process_cpu is not None:
        out += [f"process CPU {process_cpu:.2f} s"]
    if thread_cpu:
        out += [f"CPU seconds per thread (psutil), {sum(thread_cpu.values()):.2f} s in threads alive at the end:"]
        out += [f"  {cpu:6.2f} s  {names.get(tid, '?')} ({tid})"
                for tid, cpu in sorted(thread_cpu.items(), key=lambda kv: -kv[1]) if cpu >= 0.01]
    if not total:
        return "\n".join([*out, "no samples"])

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    out += [f"{total} samples holding the GIL at {RATE}/s = {total / RATE:.1f} s"]
    out += ["GIL held by thread:"] + [f"  {pct(n)}  {t}" for t, n in threads.most_common()]
    out += ["self (where the time is spent):"] + [f"  {pct(n)}  {f}" for f, n in self_time.most_common(top)]
    out += ["inclusive (under which call):"] + [f"  {pct(n)}  {f}" for f, n in incl.most_common(top)]
    return "\n".join(out)


def _process_cpu(pid: int) -> float:
    with contextlib.suppress(psutil.Error):
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    return 0.0


def _thread_cpu(pid: int) -> dict[int, float]:
    with contextlib.suppress(psutil.Error):
        return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}
    return {}


@dataclass
class Profile:
    raw: Path
    thread_cpu: dict[int, float] = field(default_factory=dict)
    process_cpu: float | None = None

    def summary(self) -> str:
        return summarise(self.raw.read_text().splitlines() if self.raw.exists() else [], self.thread_cpu,
                         self.process_cpu)


@contextlib.contextmanager
def profiled(pid: int, out: Path) -> Iterator[Profile]:
    """Record ``pid`` while the block runs; the raw collapsed stacks end up in ``out``."""
    proc = subprocess.Popen([PY_SPY, "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw",
                             "--threads", "--gil", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=die_with_parent)
    try:
        time.sleep(1.0)  # py-spy needs a moment to attach; the first samples would otherwise be lost
        prof = Profile(out)
        before, cpu0 = _thread_cpu(pid), _process_cpu(pid)
        yield prof
        after = _thread_cpu(pid)
        prof.process_cpu = _process_cpu(pid) - cpu0
        prof.thread_cpu = {tid: cpu - before.get(tid, 0.0) for tid, cpu in after.items()}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
