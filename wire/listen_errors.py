"""Why a program could not listen on its port, in words (the node and the tracker say it alike).

asyncio's bind error repeats the address in its own words ("error while attempting to bind on address
('127.0.0.1', 6881): address already in use"); the caller has already named the address, so only the cause is
kept, and a taken port says what usually holds it.
"""

from __future__ import annotations

import errno


class CannotListen(Exception):
    """A program could not bind its port; the message says where and why (``listen_error``)."""


def listen_error(exc: OSError, holder: str) -> str:
    """The cause of ``exc``, a failed bind; ``holder``: what usually has the port taken (said when it is)."""
    if exc.errno == errno.EADDRINUSE:
        return f"the address is in use ({holder})"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "no interface of this machine has that address"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return exc.strerror or str(exc)
