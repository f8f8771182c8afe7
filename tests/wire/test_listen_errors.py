"""``wire.listen_errors``: a failed bind in words."""

from __future__ import annotations

import errno
import socket

from wire.listen_errors import listen_error


def _bind_error(address: tuple[str, int]) -> OSError:
    with socket.socket() as s:
        try:
            s.bind(address)
        except OSError as exc:
            return exc
    raise AssertionError(f"{address} could be bound")


def test_a_taken_port_names_what_usually_holds_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        exc = _bind_error(holder.getsockname())
    assert exc.errno == errno.EADDRINUSE
    assert listen_error(exc, "another node still running?") == "the address is in use (another node still running?)"


def test_an_address_of_no_interface_and_other_causes_are_said_plainly() -> None:
    exc = _bind_error(("192.0.2.1", 0))  # TEST-NET-1: no interface here has it
    assert listen_error(exc, "x") == "no interface of this machine has that address"
    assert listen_error(OSError(errno.EACCES, "Permission denied"), "x").startswith("permission denied")
    assert listen_error(OSError(errno.EMFILE, "Too many open files"), "x") == "Too many open files"
