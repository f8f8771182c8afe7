"""``./client``'s command line: what it accepts, and a clear refusal for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from peer_node.config import ConfigError, config_from_argv
from peer_node.swarm.server import ServerLimits
from peer_node.web_port import WebLimits


@pytest.fixture
def base(tmp_path: Path) -> list[str]:
    trackers = tmp_path / "trackers.txt"
    trackers.write_text("127.0.0.1:7001\n", encoding="utf-8")
    return ["127.0.0.1:6881", str(trackers)]


def test_the_web_port_defaults_to_8080_and_takes_a_port(base: list[str]) -> None:
    assert config_from_argv(base).web_port == 8080
    assert config_from_argv([*base, "--web-port", "9090"]).web_port == 9090


@pytest.mark.parametrize("argv", [[], ["127.0.0.1:6881"], ["127.0.0.1:6881", "t.txt", "--bogus"]])
def test_a_mistake_in_the_arguments_is_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        config_from_argv(argv)
    assert exit_.value.code == 2
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and said[0].startswith("client: error: ") and said[0].endswith("lists the arguments)")


@pytest.mark.parametrize("port", ["0", "65536", "-1", "80a", "", "８０８０", "٨٠٨٠", " 8080"])
def test_a_web_port_that_is_not_ascii_digits_of_a_port_is_refused(base: list[str], port: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        config_from_argv([*base, f"--web-port={port}"])
    assert exit_.value.code == 2
    assert f"--web-port: {port!r} is not a port (1-65535)" in capsys.readouterr().err


@pytest.mark.parametrize(("addr", "why"), [("127.0.0.1:٨٠", "is not IP:PORT"), ("127.0.0.1", "is not IP:PORT"),
                                           ("nohost:80", "is not an IP address"), ("127.0.0.1:0", "is not IP:PORT"),
                                           ("0.0.0.0:6881", "no address other members can reach"),
                                           ("[::]:6881", "no address other members can reach")])
def test_the_piece_address_must_be_ip_and_port(base: list[str], addr: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        config_from_argv([addr, base[1]])


def test_the_piece_port_limits_default_to_the_servers_and_hidden_options_change_them(base: list[str]) -> None:
    assert config_from_argv(base).peer_limits == ServerLimits()
    limits = config_from_argv([*base, "--peer-max-connections", "40", "--peer-max-per-address", "20",
                               "--peer-handshake-timeout", "2.5"]).peer_limits
    assert (limits.max_connections, limits.max_per_address, limits.handshake_timeout) == (40, 20, 2.5)
    assert limits.max_pending_per_address == 16
    for wrong in (["--peer-max-per-address", "0"], ["--peer-max-connections", "10", "--peer-max-per-address", "11"],
                  ["--peer-handshake-timeout", "0"]):
        with pytest.raises(ConfigError):
            config_from_argv([*base, *wrong])


def test_the_web_port_cap_defaults_to_128_and_a_hidden_option_changes_it(base: list[str]) -> None:
    assert config_from_argv(base).web_limits == WebLimits()
    assert config_from_argv([*base, "--web-max-connections", "9"]).web_limits.max_connections == 9
    with pytest.raises(ConfigError):
        config_from_argv([*base, "--web-max-connections", "0"])
