"""A download's speed as its row shows it: bytes a second over the last few seconds, or, when nothing arrived in
those, over the last half minute.

A download held to a trickle (an upload limit shared by many downloaders) gets a block every several seconds; a
window of a few seconds then read 0 between blocks, and the row said "Starting" halfway through, its time left
coming and going. The long window says it is slow instead. Pure: times are passed in.
"""

from __future__ import annotations

from collections import deque

SHORT_SAMPLES = 12  # one per engine tick (at most 0.5 s): about 6 s
LONG_S = 30.0
LONG_EVERY_S = 1.0


class RateMeter:
    def __init__(self) -> None:
        self._short: deque[tuple[float, int]] = deque(maxlen=SHORT_SAMPLES)
        self._long: deque[tuple[float, int]] = deque(maxlen=int(LONG_S / LONG_EVERY_S) + 1)

    def add(self, now: float, total: int) -> None:
        """``total``: the bytes received so far, at ``now`` (monotonic seconds)."""
        self._short.append((now, total))
        if not self._long or now - self._long[-1][0] >= LONG_EVERY_S:
            self._long.append((now, total))

    def rate(self) -> float:
        """Bytes a second; 0.0 before two samples, or when nothing arrived in the last half minute."""
        short = _over(self._short)
        return short if short > 0 else _over(self._long)


def _over(samples: deque[tuple[float, int]]) -> float:
    if len(samples) < 2:
        return 0.0
    (t0, b0), (t1, b1) = samples[0], samples[-1]
    return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
