"""Which addresses count as one host for the per-address limits."""

from __future__ import annotations

import pytest

from wire.host_groups import host_group


@pytest.mark.parametrize(("address", "group"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8::1", "2001:db8::/64"),
    ("2001:db8::ffff:1", "2001:db8::/64"),
    ("2001:db8:0:1::1", "2001:db8:0:1::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("fe80::1%eth0", "fe80::/64"),
    ("/run/gs.sock", "/run/gs.sock"),
    ("x" * 300, "x" * 100),
])
def test_host_group(address: str, group: str) -> None:
    assert host_group(address) == group
