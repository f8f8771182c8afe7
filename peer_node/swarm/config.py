"""What a download engine is given and what it reports: plain frozen dataclasses (see ``engine``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from wire.peer_protocol import MAX_BLOCK
from wire.records import SeederInfo


@dataclass(frozen=True, slots=True)
class SwarmSnapshot:
    token: str
    seeders: Sequence[SeederInfo]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    refresh_interval: float = 5.0
    busy_refresh_interval: float = 1.0  # while others are downloading too (or in the first seconds): find them
    refusal_refresh_gap: float = 0.1  # a seeder refused a piece nobody we know has: ask the tracker, this often
    warmup: float = 10.0
    no_peer_timeout: float = 20.0
    connect_timeout: float = 5.0
    max_peers: int = 8
    max_piece_failures_per_peer: int = 3
    buffer_budget: int = 32 << 20  # piece buffers, reused: the download's memory bound
    block_size: int = MAX_BLOCK
    request_timeout: float = 30.0
    retry_delay: float = 1.0
    max_retry_delay: float = 15.0
    latency_target: float = 0.25  # seconds of a peer's speed kept in flight beyond its round trip
    max_depth: int = 16  # pieces in flight per peer
    pick_window: int = 32  # among more equally rare pieces than this, the lowest-numbered (file order)


@dataclass(frozen=True, slots=True)
class EngineProgress:
    bytes_done: int
    size: int
    bytes_by_peer: dict[str, int]
    peers: tuple[str, ...]
    speed_bps: float
    piece_states: str
    piece_sources: dict[int, str] = field(default_factory=dict)  # piece -> user id of the member who gave it
