"""A blocking client end of a peer connection under TLS, for tests that speak raw frames to a seeder.

It opens the connection the way a node does (``secure_channel.SecureOpening``: TLS, then the HELLOs) and then
seals what it sends and opens what it reads, so a test can send any bytes it likes (a forged proof, a monster
frame header) inside a genuine connection. Async tests run it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from peer_node.swarm.secure_channel import SecureOpening
from peer_node.swarm.tls import client_context, fingerprint_of
from wire.bulk_records import RecordStream, Sealer


class SecureSocket:
    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        try:
            opening = SecureOpening(client_context(), server_side=False)
            self.sock.sendall(opening.start())
            while not opening.done:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionResetError("the seeder hung up while the connection opened")
                if reply := opening.feed(data):
                    self.sock.sendall(reply)
        except BaseException:
            self.sock.close()
            raise
        assert opening.sealer is not None and opening.opener is not None
        self._sealer: Sealer = opening.sealer
        self._records = RecordStream(opening.opener)
        self._early = opening.leftover
        binding = opening.ssl_object.get_channel_binding("tls-unique")
        assert binding
        self.binding = bytes(binding)
        self.server_fingerprint = fingerprint_of(opening.ssl_object.getpeercert(binary_form=True) or b"")
        self.hung_up = False  # read_all ended because the seeder closed or reset the connection, not by going quiet

    def send(self, data: bytes) -> None:
        """``data`` sealed, as the node would send it."""
        self.sock.sendall(self._sealer.seal(data))

    def send_raw(self, data: bytes) -> None:
        """``data`` as it is, outside the record layer (a forged or broken record)."""
        self.sock.sendall(data)

    def seal(self, data: bytes) -> bytes:
        """``data`` sealed as the next record, without sending it (to tamper with it first)."""
        return bytes(self._sealer.seal(data))

    def read_all(self, timeout: float = 3.0, until: Callable[[bytes], bool] | None = None) -> bytes:
        """Every plaintext byte the seeder sends until it hangs up, goes quiet for ``timeout``, or breaks the
        record layer (what arrived before counts), or, with ``until``, until what arrived satisfies it."""
        self.sock.settimeout(timeout)
        got = bytearray()
        data = self._early
        try:
            while True:
                if data:
                    got += b"".join(self._records.feed(data))
                    if until is not None and until(bytes(got)):
                        break
                data = self.sock.recv(1 << 16)
                if not data:
                    self.hung_up = True
                    break
        except TimeoutError:
            pass
        except OSError:  # a reset: what arrived before is the answer
            self.hung_up = True
        return bytes(got)

    def close(self) -> None:
        self.sock.close()
