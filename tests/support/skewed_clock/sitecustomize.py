"""Put on PYTHONPATH with GS_TEST_CLOCK_SKEW=<seconds>: the process's wall clock (``time.time``) runs that far
ahead (or behind), as a machine's whose clock is off. Only for tests: nothing in the project imports it."""

import os
import time

_skew = float(os.environ.get("GS_TEST_CLOCK_SKEW", "0") or 0)
if _skew:
    _wall, _wall_ns = time.time, time.time_ns
    time.time = lambda: _wall() + _skew
    time.time_ns = lambda: _wall_ns() + int(_skew * 1e9)
