"""Everything that moves pieces: picker (pure), peer connection, download engine, piece server, piece storage.

The public API (see docs/INTERFACES.md, "Peer swarm"): ``PieceStore``, ``ServedFiles``, ``PieceServer``,
``ServerLimits``, ``DownloadEngine``, ``EngineConfig``, ``EngineProgress``, ``SwarmSnapshot``, ``DownloadFailed``.
"""

from peer_node.swarm.catalog import ServedFiles
from peer_node.swarm.engine import DownloadEngine, EngineConfig, EngineProgress, SwarmSnapshot
from peer_node.swarm.errors import DownloadFailed
from peer_node.swarm.server import PieceServer, ServerLimits
from peer_node.swarm.store import PieceStore

__all__ = [
    "DownloadEngine",
    "DownloadFailed",
    "EngineConfig",
    "EngineProgress",
    "PieceServer",
    "PieceStore",
    "ServedFiles",
    "ServerLimits",
    "SwarmSnapshot",
]
