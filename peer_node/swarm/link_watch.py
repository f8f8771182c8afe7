"""One link's look at each engine tick: what it received since the last, its pipelining depth for that rate, and
whether it stalled. Apart from the engine, which decides what a quiet link means for the whole download."""

from __future__ import annotations

from peer_node.swarm.config import EngineConfig
from peer_node.swarm.download_limit import RequestGate
from peer_node.swarm.peer_link import PeerLink


def look_at_link(link: PeerLink, got: int, now: float, dt: float, cfg: EngineConfig, piece_size: int,
                 gate: RequestGate) -> float | None:
    """``got``: bytes received over the last ``dt`` seconds. The seconds the link has been quiet, or None once it
    was closed as stalled."""
    if got:
        link.last_data_at = now
    link.measure(got / dt, cfg.latency_target, piece_size)
    gate.cap_depth(link, cfg.latency_target, piece_size)
    # Stalled: no byte for a while with requests waiting (a peer under an upload limit sends whole blocks seconds
    # apart: a slow request alone says nothing while its bytes keep coming).
    quiet_for = now - max(link.last_data_at, link.connected_at)
    if quiet_for > cfg.request_timeout and link.jobs and link.oldest_job_age(now) > cfg.request_timeout:
        link.close("peer stalled")
        return None
    return quiet_for
