"""Scenario 6: what TLS on the peer transport costs (issue 6): scenario 1 with TLS against without.

The bench can only compare once the node has TLS and a way to turn it off; until both are found in the tree it
prints n/a (it looks, it does not assume).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

from bench.context import Ctx
from bench.model import Metric
from bench.procs import PYTHON, REPO

NAME = "6 TLS"


def tls_switch() -> str | None:
    """The client option that turns peer TLS off, if the client has one (read from its --help)."""
    if not (REPO / "peer_node" / "__main__.py").exists():
        return None
    res = subprocess.run([PYTHON, "-m", "peer_node", "--help"], capture_output=True, text=True, timeout=30,
                         cwd=REPO, check=False)
    for flag in ("--no-tls", "--tls=off", "--plain"):
        if flag in res.stdout:
            return flag
    return None


def run(ctx: Ctx) -> Iterator[list[Metric]]:
    switch = tls_switch()
    note = "TLS (or a switch to turn it off) not in the client yet" if switch is None else \
        f"found {switch}, but the TLS comparison is not wired yet"
    for _ in range(ctx.runs):
        yield [Metric(NAME, "MB/s TLS on / off", "MB/s", None, None, "TLS off", ">= 0.8x", note)]
