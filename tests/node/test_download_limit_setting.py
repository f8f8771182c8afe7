"""The download limit as the user sets it: the --download-limit flag, the command's answers and refusals (the
upload limit's rate parser), and the setting kept in the node's state beside the upload limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peer_node.commands import help_text, parse_line, run_command
from peer_node.config import ConfigError, config_from_argv
from peer_node.state import NodeSettings, NodeState
from peer_node.web_ui.format import download_limit_notice, download_limit_words
from wire.errors import BadInput


def test_the_flag_is_parsed_and_checked_beside_the_upload_limit(tmp_path: Path) -> None:
    trackers = tmp_path / "trackers.txt"
    trackers.write_text("127.0.0.1:7001\n", encoding="utf-8")
    base = ["127.0.0.1:6881", str(trackers)]
    assert config_from_argv(base).download_limit is None  # not given: the saved setting holds
    both = config_from_argv([*base, "--download-limit", "10M", "--upload-limit", "1M"])
    assert (both.download_limit, both.upload_limit) == (10_000_000, 1_000_000)
    assert config_from_argv([*base, "--download-limit", "0"]).download_limit == 0  # given: no limit
    with pytest.raises(ConfigError, match="--download-limit: not a rate"):
        config_from_argv([*base, "--download-limit", "fast"])
    with pytest.raises(ConfigError, match="--download-limit: rate too low"):
        config_from_argv([*base, "--download-limit", "10"])


def test_the_command_takes_one_rate_is_in_help_and_says_what_it_set() -> None:
    cmd, args = parse_line("set_download_limit 10M")
    assert cmd.name == "set_download_limit" and args == ["10M"]
    with pytest.raises(BadInput, match="usage: set_download_limit <rate>"):
        parse_line("set_download_limit")
    assert any(line.startswith("set_download_limit <rate>") for line in help_text().splitlines())


class _Service:
    """What the command asks of the node: the limit it was given (the service's own rules are tested by the
    integration test)."""

    def __init__(self) -> None:
        self.rates: list[int | None] = []

    async def set_download_limit(self, rate: int | None) -> None:
        self.rates.append(rate)


@pytest.mark.parametrize(("line", "rate", "said"), [
    ("set_download_limit 10M", 10_000_000, "download limit set to 10 MB/s\n"),
    ("set_download_limit 100Mbit/s", 12_500_000, "download limit set to 12.5 MB/s\n"),
    ("set_download_limit 0", None, "download limit removed: this node downloads as fast as its peers send\n"),
])
async def test_the_command_sets_the_node_s_limit(line: str, rate: int | None, said: str) -> None:
    service = _Service()
    assert await run_command(service, line) == said  # type: ignore[arg-type]
    assert service.rates == [rate]


@pytest.mark.parametrize(("text", "why"), [("fast", "not a rate"), ("10", "too low"), ("5mb/s", "ambiguous"),
                                           ("2000G", "too high")])
async def test_the_command_refuses_what_the_upload_limit_refuses_and_sets_nothing(text: str, why: str) -> None:
    service = _Service()
    with pytest.raises(BadInput, match=why):
        await run_command(service, f"set_download_limit {text}")  # type: ignore[arg-type]
    assert service.rates == []


async def test_the_setting_survives_a_restart_and_older_or_bad_files_are_read_safely(tmp_path: Path) -> None:
    state = NodeState(tmp_path)
    state.load()
    assert state.settings.download_limit is None
    await state.set_settings(NodeSettings(upload_limit=1_000_000, download_limit=5_000_000))
    again = NodeState(tmp_path)
    again.load()
    assert again.settings == NodeSettings(upload_limit=1_000_000, download_limit=5_000_000)
    assert json.loads((tmp_path / "settings.json").read_text())["download_limit"] == 5_000_000
    (tmp_path / "settings.json").write_text('{"upload_limit": 7000}', encoding="utf-8")  # before download limits
    older = NodeState(tmp_path)
    older.load()
    assert older.settings == NodeSettings(upload_limit=7000, download_limit=None)
    for bad in ('{"download_limit": -1}', '{"download_limit": "fast"}', '{"download_limit": true}'):
        (tmp_path / "settings.json").write_text(bad, encoding="utf-8")
        third = NodeState(tmp_path)
        third.load()
        assert third.settings == NodeSettings()


def test_the_page_says_the_limit_as_it_says_the_upload_limit() -> None:
    assert download_limit_words(None) == "Downloads: no limit"
    assert download_limit_words(10_000_000) == "Downloads limited to 10 MB/s"
    assert download_limit_notice(None) == "Downloads are no longer limited."
    assert download_limit_notice(500_000) == "Downloads are now limited to 500 kB/s."
