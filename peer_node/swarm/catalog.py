"""The files this node serves: whole-file SHA-256 -> PieceStore.

Shares register a complete store; a download registers its partial store as soon as it starts, so every piece it
verifies is served at once (swarming). The piece server looks files up here at every handshake.
"""

from __future__ import annotations

from peer_node.swarm.store import PieceStore


class ServedFiles:
    def __init__(self) -> None:
        self._stores: dict[str, PieceStore] = {}

    def register(self, store: PieceStore) -> None:
        """Serve ``store``; an older store of the same file is replaced (not closed: its owner closes it)."""
        self._stores[store.meta.sha256] = store

    def unregister(self, sha256: str) -> PieceStore | None:
        return self._stores.pop(sha256.lower(), None)

    def get(self, sha256: str) -> PieceStore | None:
        store = self._stores.get(sha256.lower())
        return None if store is None or store.closed else store

    def holdings(self) -> list[tuple[str, bytes | None]]:
        """(sha256, bitfield or None when complete) for every open store: what a heartbeat reports."""
        return [(sha, None if store.is_complete else store.bitfield())
                for sha, store in self._stores.items() if not store.closed]

    def __len__(self) -> int:
        return len(self._stores)

    def __contains__(self, sha256: object) -> bool:
        return isinstance(sha256, str) and sha256.lower() in self._stores
