"""Nothing that arrives on any port is ever unpickled or evaluated. A source guard (no deserialiser that can run
code, no eval/exec, no shell) plus the behaviour: a pickle that would run a command, sent to every door (tracker
API, tracker internal route, node /cmd and UI, piece server), runs nothing and leaves each service answering."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bench.ports import free_port
from peer_node.app import create_app as create_node_app
from peer_node.config import NodeConfig
from tests.swarm.helpers import start_seeder
from tests.tracker.helpers import Clock, make_config
from tracker_server.app import create_app as create_tracker_app
from wire.tracker_list import TrackerAddress

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("wire", "tracker_server", "peer_node")
FORBIDDEN = re.compile(r"\b(pickle|cPickle|marshal|shelve|dill|jsonpickle|yaml)\b|\b(eval|exec|compile)\s*\("
                       r"|__import__\s*\(|shell\s*=\s*True|os\.system\s*\(|os\.popen\s*\(")
# The one dynamic import: a constant module name (the UI plug-in), never anything received.
ALLOWED = {("peer_node/app.py", 'importlib.import_module("peer_node.web_ui")')}


def test_no_code_running_deserialiser_or_eval_in_any_shipped_module() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            for no, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                if '"""' in line or code.strip().startswith(("'", '"')):
                    continue  # docstrings may say what is never done
                if FORBIDDEN.search(code.replace("re.compile(", "")):
                    found.append(f"{rel}:{no}: {line.strip()}")
                if "import_module(" in code and not any(rel == a and s in code for a, s in ALLOWED):
                    found.append(f"{rel}:{no}: {line.strip()}")
    assert found == []


class _Bomb:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


async def test_a_pickle_sent_to_every_door_runs_nothing(aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
                                                        tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    bomb = pickle.dumps(_Bomb(marker))
    tracker = await aiohttp_client(create_tracker_app(make_config(tmp_path / "tracker", Clock())))
    for path in ("/api/v1/users", "/api/v1/sessions", "/api/v1/heartbeat", "/internal/v1/append",
                 "/internal/v1/snapshot"):
        resp = await tracker.post(path, data=bomb, headers={"Content-Type": "application/python-pickle"})
        assert resp.status in (400, 401, 403), path
    assert (await tracker.get("/healthz")).status == 200

    web_port = free_port()
    config = NodeConfig(piece_host="127.0.0.1", piece_port=free_port(),
                        trackers=(TrackerAddress("127.0.0.1", free_port(), 1),), web_port=web_port,
                        data_dir=tmp_path / "node", tracker_timeout_s=1.0, tracker_retry_s=0.0, console=False)
    node = await aiohttp_client(create_node_app(config), server_kwargs={"host": "127.0.0.1", "port": web_port})
    key = (config.data_dir / "api-key").read_text("ascii").strip()
    resp = await node.post("/cmd", data=bomb, headers={"Authorization": f"Bearer {key}"})
    assert resp.status == 400
    resp = await node.post("/login", data=bomb, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status in (400, 403)
    assert (await node.get("/healthz")).status == 200

    seeder = await start_seeder("seed", [])
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", seeder.server.port)
        writer.write(len(bomb).to_bytes(4, "big") + b"\x00" + bomb)
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(3):
                while await reader.read(65536):
                    pass
        writer.close()
    finally:
        await seeder.close()
    assert not marker.exists()
