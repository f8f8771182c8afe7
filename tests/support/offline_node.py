"""A node app served in-process with no tracker behind it: for tests of the node's own doors (/cmd, the UI guard,
body caps, parsers) that must not wait on a tracker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.ports import free_port
from peer_node.app import create_app
from peer_node.config import NodeConfig
from wire.tracker_list import TrackerAddress


async def start_offline_node(aiohttp_client: Callable[..., Awaitable[Any]], tmp_path: Path) -> tuple[Any, NodeConfig]:
    """(test client, config) of a node on a free loopback web port whose only tracker is a port nothing listens on."""
    web_port = free_port()
    config = NodeConfig(piece_host="127.0.0.1", piece_port=free_port(),
                        trackers=(TrackerAddress("127.0.0.1", free_port(), 1),),  # nothing listens there
                        web_port=web_port, data_dir=tmp_path / "node", tracker_timeout_s=1.0, tracker_retry_s=0.0,
                        console=False)
    client = await aiohttp_client(create_app(config), server_kwargs={"host": "127.0.0.1", "port": web_port})
    return client, config


def api_key(config: NodeConfig) -> str:
    return (config.data_dir / "api-key").read_text("ascii").strip()
