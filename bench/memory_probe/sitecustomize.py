"""What ``bench.memory_soak --probe`` adds to a node (through PYTHONPATH, no node code): one JSON line a sample.

Active only when GS_MEMPROBE_DIR is set. Every GS_MEMPROBE_EVERY seconds a thread appends to
``<dir>/samples.jsonl``: RSS, glibc's ``mallinfo2`` (``used``: in use; ``free``: free but kept in its heaps),
the thread count, gc-tracked objects by type (those with 8 or more), and with GS_MEMPROBE_TRACE=N (frames)
tracemalloc's traced size. When ``<dir>/snap-request`` exists it writes ``malloc-<n>.xml`` (glibc's
``malloc_info``: each heap's size and free bytes) and, when tracing, ``snap-<n>.pickle`` (a tracemalloc snapshot,
for ``Snapshot.compare_to``). Which of RSS, glibc's in-use bytes and Python's traced bytes grow tells a leak
(all three) from memory the allocator keeps (RSS and ``free`` only).
"""

from __future__ import annotations

import os

_DIR = os.environ.get("GS_MEMPROBE_DIR", "")
if _DIR:
    import collections
    import ctypes
    import gc
    import json
    import threading
    import time
    import tracemalloc

    if int(os.environ.get("GS_MEMPROBE_TRACE", "0")):
        tracemalloc.start(int(os.environ["GS_MEMPROBE_TRACE"]))

    class _Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                    "fsmblks", "uordblks", "fordblks", "keepcost")]

    _libc = ctypes.CDLL(None)
    _glibc = hasattr(_libc, "mallinfo2")
    if _glibc:
        _libc.mallinfo2.restype = _Info
        _libc.fopen.restype = ctypes.c_void_p
        _libc.fclose.argtypes = [ctypes.c_void_p]
        _libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]

    def _sample(t0: float) -> dict[str, object]:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        objects = gc.get_objects()
        types = collections.Counter(type(o).__qualname__ for o in objects)
        rec: dict[str, object] = {"t": round(time.time() - t0, 1), "rss": rss, "threads": threading.active_count(),
               "objects": len(objects), "types": {k: v for k, v in types.items() if v >= 8},
               "traced": tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None}
        if _glibc:
            info = _libc.mallinfo2()
            rec.update(arena=info.arena, mapped=info.hblkhd, used=info.uordblks, free=info.fordblks)
        return rec

    def _snapshot(n: int) -> None:
        if _glibc:
            fp = _libc.fopen(os.path.join(_DIR, f"malloc-{n}.xml").encode(), b"w")
            _libc.malloc_info(0, fp)
            _libc.fclose(fp)
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(os.path.join(_DIR, f"snap-{n}.pickle"))

    def _run() -> None:
        every = float(os.environ.get("GS_MEMPROBE_EVERY", "15"))
        t0, n = time.time(), 0
        while True:
            time.sleep(every)
            with open(os.path.join(_DIR, "samples.jsonl"), "a") as f:
                f.write(json.dumps(_sample(t0)) + "\n")
            request = os.path.join(_DIR, "snap-request")
            if os.path.exists(request):
                os.unlink(request)
                n += 1
                _snapshot(n)

    threading.Thread(target=_run, name="memprobe", daemon=True).start()
