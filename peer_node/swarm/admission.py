"""Which connections the piece server keeps (pure bookkeeping; the connections abort themselves).

Caps: connections in total and per address (an IPv6 address counts by its /64: ``wire.host_groups``). A
connection counts as *pending* from its arrival until its peer handshake is accepted. When an address already
holds too many pending connections, or a cap is reached, the oldest pending connection (of that address, or of
any for the total cap) is aborted to make room: a slow-loris that opens connections and never finishes its
handshake only ever displaces its own oldest ones, while peers that got through keep their places.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict, deque
from typing import Generic, Protocol, TypeVar

from wire.host_groups import host_group


class Admitted(Protocol):
    addr: str
    opened_at: float

    def abort(self) -> None: ...


C = TypeVar("C", bound=Admitted)


class ConnectionTable(Generic[C]):
    def __init__(self, max_connections: int, max_per_address: int, max_pending_per_address: int) -> None:
        self.max_connections, self.max_per_address = max_connections, max_per_address
        self.max_pending_per_address = max_pending_per_address
        self.all: set[C] = set()
        self.by_addr: dict[str, set[C]] = defaultdict(set)
        self.pending: dict[str, deque[C]] = defaultdict(deque)
        self._group: dict[C, str] = {}  # conn -> its host's key in by_addr and pending

    def __len__(self) -> int:
        return len(self.all)

    def admit(self, conn: C) -> bool:
        """Take ``conn`` in as pending, aborting an older pending one if a cap demands; False: refuse it."""
        addr = host_group(conn.addr)
        if len(self.by_addr[addr]) >= self.max_per_address and not self._evict_pending(addr):
            return False
        if len(self.all) >= self.max_connections and not self._evict_pending(None):
            return False
        if len(self.pending[addr]) >= self.max_pending_per_address:
            self._evict_pending(addr)
        self.all.add(conn)
        self._group[conn] = addr
        self.by_addr[addr].add(conn)
        self.pending[addr].append(conn)
        return True

    def accepted(self, conn: C) -> None:
        """Its handshake was accepted: no longer pending, never evicted to make room."""
        addr = self._group.get(conn)
        if addr is not None:
            with contextlib.suppress(ValueError):
                self.pending[addr].remove(conn)

    def forget(self, conn: C) -> None:
        self.all.discard(conn)
        addr = self._group.pop(conn, None)
        if addr is None:  # never admitted (refused at once), or forgotten already
            return
        self.by_addr[addr].discard(conn)
        if not self.by_addr[addr]:
            del self.by_addr[addr]
        with contextlib.suppress(ValueError):
            self.pending[addr].remove(conn)
        if not self.pending.get(addr, True):
            del self.pending[addr]

    def _evict_pending(self, addr: str | None) -> bool:
        queues = [self.pending[addr]] if addr is not None else list(self.pending.values())
        oldest: C | None = None
        for queue in queues:
            if queue and (oldest is None or queue[0].opened_at < oldest.opened_at):
                oldest = queue[0]
        if oldest is None:
            return False
        oldest.abort()  # which forgets it here, through the server
        return True
