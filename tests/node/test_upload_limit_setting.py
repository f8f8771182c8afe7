"""The upload limit as the user sets it: rates in words, the --upload-limit flag, the command's answers and the
setting kept in the node's state."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peer_node.commands import parse_line, upload_limit_text
from peer_node.config import ConfigError, config_from_argv
from peer_node.rates import MAX_RATE, MIN_RATE, format_rate, parse_rate
from peer_node.state import NodeSettings, NodeState
from wire.errors import BadInput


@pytest.mark.parametrize(("text", "rate"), [
    ("125M", 125_000_000), ("125 MB/s", 125_000_000), ("125MB", 125_000_000), ("500kB/s", 500_000),
    ("1.5G", 1_500_000_000), ("100MiB", 100 * 2**20), ("64KiB/s", 65_536), ("4096", 4096), (" 2g ", 2 * 10**9),
    ("125MBps", 125_000_000), ("2 megabytes", None), ("3kbytes/s", 3000),
    # bits, as network people write them: a link's speed read as bytes would be a limit 8 times too high
    ("5Mb/s", 625_000), ("100Mbit/s", 12_500_000), ("100 Mbps", 12_500_000), ("1gbps", 125_000_000),
    ("8Kb", 1000), ("1Gbits", 125_000_000),
])
def test_rates_read_as_people_write_them(text: str, rate: int | None) -> None:
    if rate is None:
        with pytest.raises(BadInput, match="not a rate"):
            parse_rate(text)
    else:
        assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["0", "none", "Unlimited", "off", "0M", "0.000", "0 Mbit/s"])
def test_zero_and_none_mean_no_limit(text: str) -> None:
    assert parse_rate(text) is None


@pytest.mark.parametrize("text", ["", "fast", "-5M", "12Q", "1e9", "12 M B", "5 M /s", "9" * 40])
def test_anything_else_is_refused_with_examples(text: str) -> None:
    with pytest.raises(BadInput, match="not a rate"):
        parse_rate(text)


@pytest.mark.parametrize(("text", "as_bytes", "as_bits"), [
    ("5mb/s", "5MB/s", "5Mbit/s (5 Mbps)"), ("125mb", "125MB/s", "125Mbit/s"), ("2gb", "2GB/s", "2Gbit/s")])
def test_a_lower_case_mb_is_refused_as_ambiguous_with_both_spellings(text: str, as_bytes: str, as_bits: str) -> None:
    with pytest.raises(BadInput, match=rf"^{re.escape(text)} is ambiguous: write {re.escape(as_bytes)} for bytes a "
                                       rf"second or {re.escape(as_bits)}"):
        parse_rate(text)


def test_a_rate_past_a_terabyte_a_second_is_a_typo() -> None:
    with pytest.raises(BadInput, match="too high"):
        parse_rate("2000G")
    assert parse_rate(str(MAX_RATE)) == MAX_RATE


@pytest.mark.parametrize("text", ["10", "999", "0.5", "0.0001"])
def test_a_plain_number_under_a_kilobyte_a_second_is_refused_with_the_units(text: str) -> None:
    with pytest.raises(BadInput, match=r"too low: .*\(10M is 10 MB/s"):
        parse_rate(text)


@pytest.mark.parametrize("text", ["0.5k", "999B/s", "0.0001M", "7Kb"])
def test_a_rate_with_its_unit_under_a_kilobyte_a_second_says_the_least(text: str) -> None:
    with pytest.raises(BadInput, match=r"too low: .* at least 1 kB/s \(1k\), or 0 for no limit$"):
        parse_rate(text)
    assert parse_rate(str(MIN_RATE)) == MIN_RATE == parse_rate("1k")


@given(st.integers(1, 9999), st.sampled_from([1, 10**3, 10**6, 10**9]))
def test_a_formatted_rate_reads_back_to_the_same_number(digits: int, unit: int) -> None:
    rate = min(max(digits * unit, MIN_RATE), MAX_RATE)
    assert parse_rate(format_rate(rate).replace(" ", "")) == rate


def test_rates_format_in_the_browser_s_decimal_units() -> None:
    assert [format_rate(r) for r in (None, 800, 500_000, 1_500_000, 125_000_000, 2 * 10**9)] == [
        "no limit", "800 B/s", "500 kB/s", "1.5 MB/s", "125 MB/s", "2 GB/s"]


def test_the_flag_is_parsed_and_checked(tmp_path: Path) -> None:
    trackers = tmp_path / "trackers.txt"
    trackers.write_text("127.0.0.1:7001\n", encoding="utf-8")
    base = ["127.0.0.1:6881", str(trackers)]
    assert config_from_argv(base).upload_limit is None  # not given: the saved setting holds
    assert config_from_argv([*base, "--upload-limit", "125M"]).upload_limit == 125_000_000
    assert config_from_argv([*base, "--upload-limit", "0"]).upload_limit == 0  # given: no limit
    with pytest.raises(ConfigError, match="--upload-limit: not a rate"):
        config_from_argv([*base, "--upload-limit", "fast"])


def test_the_command_takes_one_rate_and_says_what_it_set() -> None:
    cmd, args = parse_line("set_upload_limit 125M")
    assert cmd.name == "set_upload_limit" and args == ["125M"]
    with pytest.raises(BadInput, match="usage: set_upload_limit <rate>"):
        parse_line("set_upload_limit")
    assert upload_limit_text(125_000_000) == "upload limit set to 125 MB/s\n"
    assert upload_limit_text(None) == "upload limit removed: this node uploads as fast as its peers take\n"


async def test_the_setting_survives_a_restart_and_a_bad_file_is_ignored(tmp_path: Path) -> None:
    state = NodeState(tmp_path)
    state.load()
    assert state.settings == NodeSettings(upload_limit=None)
    await state.set_settings(NodeSettings(upload_limit=5_000_000))
    again = NodeState(tmp_path)
    again.load()
    assert again.settings.upload_limit == 5_000_000
    for bad in ('{"upload_limit": -1}', '{"upload_limit": "fast"}', '{"upload_limit": true}', "[1]", "{oops"):
        (tmp_path / "settings.json").write_text(bad, encoding="utf-8")
        third = NodeState(tmp_path)
        third.load()
        assert third.settings == NodeSettings()
