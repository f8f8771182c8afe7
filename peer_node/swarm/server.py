"""The piece server: serves verified pieces of the catalog's files to peers holding a valid token.

Theory of operation: the server listens, and each peer that connects gets a ``connection.ServerConnection``
(behind a ``secure_channel.ServerChannel`` under TLS) that checks its handshake and token and answers its
requests. What the connections share lives here: the catalog of served files, the token verifier, the limits,
the count of bytes sent to each user, one crowd ledger per complete file served to several downloaders at once
(``crowd.CrowdLedger``: a piece one of them was given already is refused to the others, who fetch it from that
one; a lone downloader is never refused), and the upload limit (``upload_limit.UploadLimit``: a token bucket and a
fair queue) that every connection's sender waits on before each block, never inside one.

Caps: connections in total and per address; when one address has too many connections still in the handshake
the oldest is dropped, so a slow-loris cannot lock out real peers (``admission.ConnectionTable``).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from peer_node.swarm.admission import ConnectionTable
from peer_node.swarm.catalog import ServedFiles
from peer_node.swarm.connection import ServerConnection
from peer_node.swarm.crowd import CrowdLedger
from peer_node.swarm.secure_channel import ServerChannel
from peer_node.swarm.store import PieceStore
from peer_node.swarm.tls import NodeIdentity
from peer_node.swarm.upload_limit import UploadLimit
from wire.peer_protocol import MAX_REQUESTS_IN_FLIGHT
from wire.tokens import TokenVerifier


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_connections: int = 512
    max_per_address: int = 64
    max_pending_per_address: int = 16
    handshake_timeout: float = 10.0
    idle_timeout: float = 120.0
    max_queued_requests: int = MAX_REQUESTS_IN_FLIGHT  # fewer would cut off well-behaved clients
    spread_crowds: bool = True  # refuse a piece one downloader of a complete file got to the others (crowd.py)


class PieceServer:
    def __init__(self, host: str, port: int, catalog: ServedFiles, verifier: Callable[[], TokenVerifier | None],
                 limits: ServerLimits | None = None, *, holds: Callable[[str, str], bool],
                 tls: NodeIdentity | None = None,
                 clock: Callable[[], float] = time.time, use_sendfile: bool = True,
                 upload_limit: int | None = None) -> None:
        self.host, self._port = host, port
        self.catalog, self.verifier = catalog, verifier
        # Whether this node holds the file (sha256) for that group: a token is for one group's copy of a file,
        # and the same bytes shared in another group (even a made-up one) must not open this one.
        self.holds = holds
        self.limits = limits or ServerLimits()
        self.tls, self.clock = tls, clock
        self.use_sendfile = use_sendfile and tls is None  # the kernel cannot encrypt
        self._server: asyncio.Server | None = None
        self.connections: ConnectionTable[ServerConnection] = ConnectionTable(
            self.limits.max_connections, self.limits.max_per_address, self.limits.max_pending_per_address)
        self.bytes_sent_total = 0
        self._sent_by_user: dict[str, int] = defaultdict(int)
        self._ledgers: dict[str, CrowdLedger] = {}  # file sha256 -> who got which piece (complete files only)
        self.crowd_refusals = 0  # requests refused to spread a crowd (for tests and diagnostics)
        self._upload = UploadLimit(upload_limit)

    @property
    def port(self) -> int:
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def connection_count(self) -> int:
        return len(self.connections)

    @property
    def upload_limit(self) -> int | None:
        """Bytes a second this server sends in all, across its connections; None: no limit."""
        return self._upload.rate

    def set_upload_limit(self, rate: int | None) -> None:
        self._upload.set_rate(rate)

    async def pace(self, nbytes: int, who: ServerConnection) -> None:
        """Wait until ``who``'s turn comes and the upload limit lets a block of ``nbytes`` go (at once when the
        limit changes meanwhile), and count it as gone."""
        await self._upload.pace(nbytes, who)

    def bytes_sent_by_user(self) -> dict[str, int]:
        return dict(self._sent_by_user)

    def forget_sent_by_user(self) -> None:
        """At a logout: who fetched what from this node is the logged-out user's, not the next user's to see."""
        self._sent_by_user.clear()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.tls is None:
            factory: Callable[[], asyncio.Protocol] = lambda: ServerConnection(self)  # noqa: E731
        else:  # TLS opens the connection, then sealed records carry it (secure_channel); our timers cover both
            context = self.tls.server_context()
            factory = lambda: ServerChannel(context, ServerConnection(self))  # noqa: E731
        self._server = await loop.create_server(factory, self.host, self._port, reuse_address=True, backlog=256)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections.all):
            conn.abort()
        await self._upload.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # --- what the connections share ---------------------------------------------------------------------
    def join_crowd(self, conn: ServerConnection, store: PieceStore) -> CrowdLedger | None:
        if not self.limits.spread_crowds or not store.is_complete:
            return None
        ledger = self._ledgers.get(store.meta.sha256)
        if ledger is None:
            ledger = self._ledgers[store.meta.sha256] = CrowdLedger(store.meta.piece_count)
        ledger.join(conn)
        return ledger

    def leave_crowd(self, conn: ServerConnection, sha: str, ledger: CrowdLedger) -> None:
        ledger.leave(conn)
        if not len(ledger) and self._ledgers.get(sha) is ledger:
            del self._ledgers[sha]

    def count_sent(self, user_id: str, nbytes: int) -> None:
        self.bytes_sent_total += nbytes
        self._sent_by_user[user_id] += nbytes
