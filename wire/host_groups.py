"""Which client addresses count as one host, for every per-address limit (login throttling, sign-ups, the piece
server's connection caps).

An IPv4 address is one host. An IPv6 host usually holds a whole /64 (SLAAC, privacy addresses, a /64 per
customer), so an address counts by its /64: else one machine could take a fresh address per connection and step
round every per-address cap. An IPv4-mapped IPv6 address is its IPv4 address. Pure.
"""

from __future__ import annotations

import ipaddress


def host_group(address: str) -> str:
    """'192.0.2.7' -> '192.0.2.7'; '2001:db8::1' -> '2001:db8::/64'; '::ffff:192.0.2.7' -> '192.0.2.7'.
    Anything that is not an IP address (a Unix socket's name) is itself, cut to 100 characters."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a link-local zone ('fe80::1%eth0') is no host of its own
    except ValueError:
        return address[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
