"""The piece server's connection table on its own: caps, and who is dropped to make room."""

from __future__ import annotations

from dataclasses import dataclass, field

from peer_node.swarm.admission import ConnectionTable


@dataclass(eq=False)
class Conn:
    table: ConnectionTable[Conn]
    addr: str
    opened_at: float
    aborted: bool = field(default=False)

    def abort(self) -> None:  # as the server's connections do: aborting forgets
        self.aborted = True
        self.table.forget(self)


def make(table: ConnectionTable[Conn], addr: str, n: int, start: float = 0.0) -> list[Conn]:
    return [Conn(table, addr, start + i) for i in range(n)]


def test_pending_connections_beyond_the_per_address_cap_displace_that_addresss_oldest() -> None:
    table: ConnectionTable[Conn] = ConnectionTable(max_connections=100, max_per_address=100, max_pending_per_address=3)
    loris = make(table, "10.0.0.9", 5)
    assert all(table.admit(c) for c in loris)
    assert [c.aborted for c in loris] == [True, True, False, False, False]
    assert len(table) == 3 and list(table.pending["10.0.0.9"]) == loris[2:]


def test_an_accepted_connection_is_never_displaced_and_a_full_address_with_none_pending_is_refused() -> None:
    table: ConnectionTable[Conn] = ConnectionTable(max_connections=100, max_per_address=2, max_pending_per_address=2)
    peers = make(table, "10.0.0.1", 2)
    for c in peers:
        assert table.admit(c)
        table.accepted(c)
    third = Conn(table, "10.0.0.1", 9.0)
    assert not table.admit(third)
    assert not any(c.aborted for c in peers) and len(table) == 2


def test_the_total_cap_displaces_the_oldest_pending_connection_of_any_address() -> None:
    table: ConnectionTable[Conn] = ConnectionTable(max_connections=3, max_per_address=10, max_pending_per_address=10)
    a, b = make(table, "10.0.0.1", 1, start=5.0)[0], make(table, "10.0.0.2", 1, start=1.0)[0]
    served = Conn(table, "10.0.0.3", 0.0)
    for c in (a, b, served):
        assert table.admit(c)
    table.accepted(served)
    newcomer = Conn(table, "10.0.0.4", 9.0)
    assert table.admit(newcomer)
    assert b.aborted and not a.aborted and not served.aborted  # b opened before a; served is past its handshake
    assert table.all == {a, served, newcomer}


def test_forgetting_the_last_connection_of_an_address_leaves_no_trace() -> None:
    table: ConnectionTable[Conn] = ConnectionTable(max_connections=10, max_per_address=10, max_pending_per_address=10)
    (c,) = make(table, "10.0.0.1", 1)
    table.admit(c)
    table.forget(c)
    assert len(table) == 0 and not table.by_addr and not table.pending


def test_the_addresses_of_one_ipv6_64_share_one_hosts_caps() -> None:
    # One machine holds a whole /64: a fresh address per connection must not step round the per-address caps.
    table: ConnectionTable[Conn] = ConnectionTable(max_connections=100, max_per_address=2, max_pending_per_address=2)
    peers = [Conn(table, f"2001:db8:0:7::{i + 1:x}", float(i)) for i in range(2)]
    for c in peers:
        assert table.admit(c)
        table.accepted(c)
    assert not table.admit(Conn(table, "2001:db8:0:7::ffff", 9.0))
    neighbour = Conn(table, "2001:db8:0:8::1", 9.0)  # the next /64 is another host
    assert table.admit(neighbour)
    assert set(table.by_addr) == {"2001:db8:0:7::/64", "2001:db8:0:8::/64"}
    for c in (*peers, neighbour):
        table.forget(c)
    assert len(table) == 0 and not table.by_addr and not table.pending


def test_a_mapped_ipv4_address_is_that_ipv4_host() -> None:
    table: ConnectionTable[Conn] = ConnectionTable(max_connections=100, max_per_address=1, max_pending_per_address=1)
    first = Conn(table, "192.0.2.7", 0.0)
    assert table.admit(first)
    table.accepted(first)
    assert not table.admit(Conn(table, "::ffff:192.0.2.7", 1.0))
