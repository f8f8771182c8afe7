"""The /cmd door on the real app: API key, Origin, Host, body cap, and the `error: ` form of refusals."""

from __future__ import annotations

import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from peer_node.config import NodeConfig
from tests.support.offline_node import start_offline_node

Client = Any


@pytest.fixture
async def node(aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path) -> tuple[Client, NodeConfig]:
    return await start_offline_node(aiohttp_client, tmp_path)


def _auth(config: NodeConfig, **extra: str) -> dict[str, str]:
    key = (config.data_dir / "api-key").read_text("ascii").strip()
    return {"Authorization": f"Bearer {key}", **extra}


async def test_api_key_file_has_mode_0600(node: tuple[Client, NodeConfig]) -> None:
    _client, config = node
    assert stat.S_IMODE((config.data_dir / "api-key").stat().st_mode) == 0o600


async def test_help_with_the_key_is_200_text(node: tuple[Client, NodeConfig]) -> None:
    client, config = node
    resp = await client.post("/cmd", data=b"help", headers=_auth(config))
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    assert "download_file" in await resp.text()


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic abc", "Bearer "])
async def test_missing_or_wrong_key_is_401(node: tuple[Client, NodeConfig], header: str | None) -> None:
    client, _config = node
    headers = {"Authorization": header} if header is not None else {}
    resp = await client.post("/cmd", data=b"help", headers=headers)
    assert resp.status == 401
    assert (await resp.text()).startswith("error: ")


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:1", "null"])
async def test_foreign_origin_is_403(node: tuple[Client, NodeConfig], origin: str) -> None:
    client, config = node
    resp = await client.post("/cmd", data=b"help", headers=_auth(config, Origin=origin))
    assert resp.status == 403


async def test_own_origin_passes(node: tuple[Client, NodeConfig]) -> None:
    client, config = node
    for origin in (f"http://127.0.0.1:{config.web_port}", f"http://localhost:{config.web_port}"):
        resp = await client.post("/cmd", data=b"help", headers=_auth(config, Origin=origin))
        assert resp.status == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "localhost"])
async def test_foreign_host_is_403(node: tuple[Client, NodeConfig], host: str) -> None:
    client, config = node
    resp = await client.post("/cmd", data=b"help", headers=_auth(config, Host=host.format(port=config.web_port)))
    assert resp.status == 403
    assert (await resp.text()).startswith("error: ")


async def test_foreign_host_is_refused_on_every_route(node: tuple[Client, NodeConfig]) -> None:
    client, _config = node
    for path in ("/healthz", "/", "/api/downloads", "/no-such-page"):
        resp = await client.get(path, headers={"Host": "evil.example"})
        assert resp.status == 403, path


async def test_localhost_host_passes(node: tuple[Client, NodeConfig]) -> None:
    client, config = node
    resp = await client.post("/cmd", data=b"help", headers=_auth(config, Host=f"localhost:{config.web_port}"))
    assert resp.status == 200


async def test_oversized_body_is_413(node: tuple[Client, NodeConfig]) -> None:
    client, config = node
    resp = await client.post("/cmd", data=b"help " + b"x" * (1 << 20), headers=_auth(config))
    assert resp.status == 413


async def test_bad_quoting_is_400_with_one_error_line(node: tuple[Client, NodeConfig]) -> None:
    client, config = node
    resp = await client.post("/cmd", data=b"login 'alice", headers=_auth(config))
    text = await resp.text()
    assert resp.status == 400
    assert text.startswith("error: ") and text.count("\n") == 1


async def test_not_utf8_is_400(node: tuple[Client, NodeConfig]) -> None:
    client, config = node
    resp = await client.post("/cmd", data=b"help \xff", headers=_auth(config))
    assert resp.status == 400


@pytest.mark.parametrize("line", ["create_group g1", "list_files g1", "logout", "show_downloads",
                                  "download_file g1 f.bin /tmp"])
async def test_commands_before_login_are_401(node: tuple[Client, NodeConfig], line: str) -> None:
    client, config = node
    resp = await client.post("/cmd", data=line.encode(), headers=_auth(config))
    assert resp.status == 401
    assert (await resp.text()).startswith("error: not logged in")


async def test_bad_id_is_400_before_any_tracker_call(node: tuple[Client, NodeConfig]) -> None:
    client, config = node
    resp = await client.post("/cmd", data=b"create_user bad/name pw", headers=_auth(config))
    assert resp.status == 400


async def test_no_tracker_reachable_is_503(node: tuple[Client, NodeConfig]) -> None:
    client, config = node
    resp = await client.post("/cmd", data=b"create_user alice pw-123456", headers=_auth(config))
    assert resp.status == 503
    assert (await resp.text()).startswith("error: no tracker could answer")


async def test_the_status_names_no_tracker_once_none_answered(node: tuple[Client, NodeConfig]) -> None:
    client, config = node
    await client.post("/cmd", data=b"create_user alice pw-123456", headers=_auth(config))
    status = await (await client.get("/api/status", headers=_auth(config))).json()
    assert (status["tracker"], status["tracker_rank"], status["failed_over"]) == (None, None, False)


async def test_healthz_answers_200(node: tuple[Client, NodeConfig]) -> None:
    client, _config = node
    resp = await client.get("/healthz")
    assert resp.status == 200


async def test_downloads_api_wants_the_key(node: tuple[Client, NodeConfig]) -> None:
    client, config = node
    assert (await client.get("/api/downloads")).status == 401
    resp = await client.get("/api/downloads", headers=_auth(config))
    assert resp.status == 200
    assert await resp.json() == {"downloads": []}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_another_method_on_cmd_is_a_405_error_line_saying_to_post(node: tuple[Client, NodeConfig],
                                                                        method: str) -> None:
    client, config = node
    resp = await client.request(method, "/cmd", headers=_auth(config))
    assert resp.status == 405 and resp.headers["Allow"] == "POST"
    assert await resp.text() == f"error: {method} is not a command: POST /cmd with one command line as the body\n"


async def test_a_command_saved_with_a_byte_order_mark_runs(node: tuple[Client, NodeConfig]) -> None:
    client, config = node
    resp = await client.post("/cmd", data="\ufeffhelp\n".encode(), headers=_auth(config))
    assert resp.status == 200 and "download_file" in await resp.text()
