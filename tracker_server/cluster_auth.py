"""Tracker-to-tracker authentication: every internal request is signed with an HMAC of the cluster secret.

Theory of operation: the key is derived from the cluster secret with HKDF (its own ``info``, so it is unrelated to
the token-signing key). A request carries ``X-GS-From`` (the sender's tracker number), ``X-GS-Time`` (unix
seconds) and ``X-GS-Signature`` = HMAC-SHA256 over method, path, time, sender and the body's SHA-256. The
receiver refuses a bad signature or a time more than ``MAX_SKEW_S`` away from its own clock. A second HMAC over
the same fields and the body's length (``X-GS-Head-Signature``) is checked before the body is read. Replaying a captured
request inside that window can only repeat an idempotent internal message (appends are checked by index).
Nothing received is ever unpickled or evaluated: bodies are JSON.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAX_SKEW_S = 30.0
_INFO = b"groupshare tracker-to-tracker hmac v1"


# What a tracker answers (403) to a message whose signature it cannot verify: the one 403 that means "another
# cluster secret, or a clock far off" (``replication`` counts only it as a tracker refusing us).
SIGNATURE_REFUSED = "internal route: bad or missing tracker signature"


def cluster_key(secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


def _mac(key: bytes, method: str, path: str, when: str, sender: str, body: bytes | bytearray | Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in (body,) if isinstance(body, (bytes, bytearray)) else body:  # chunks: no 100 MB join to hash
        digest.update(chunk)
    message = "\n".join((method.upper(), path, when, sender, digest.hexdigest())).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _digits(*values: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also says yes to "²", which ``int`` refuses."""
    return all(v.isascii() and v.isdigit() for v in values)


def _head_mac(key: bytes, method: str, path: str, when: str, sender: str, length: str) -> str:
    message = "\n".join(("head", method.upper(), path, when, sender, length)).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(key: bytes, method: str, path: str, sender: int, body: bytes | bytearray, now: float) -> dict[str, str]:
    when, length = str(int(now)), str(len(body))
    return {"X-GS-From": str(sender), "X-GS-Time": when,
            "X-GS-Signature": _mac(key, method, path, when, str(sender), body),
            "X-GS-Length": length, "X-GS-Head-Signature": _head_mac(key, method, path, when, str(sender), length)}


def verify_head(key: bytes, method: str, path: str, headers: Mapping[str, str], content_length: int | None,
                now: float) -> bool:
    """Before a byte of the body is read: is this a fresh message of a tracker, announcing this length?
    (Internal bodies may be large: a stranger must not make us buffer one just to find its signature bad.)"""
    sender, when, length = headers.get("X-GS-From", ""), headers.get("X-GS-Time", ""), headers.get("X-GS-Length", "")
    signature = headers.get("X-GS-Head-Signature", "")
    if not _digits(sender, when, length) or len(signature) != 64:
        return False
    if content_length is None or int(length) != content_length or abs(now - int(when)) > MAX_SKEW_S:
        return False
    return hmac.compare_digest(_head_mac(key, method, path, when, sender, length), signature)


def verify(key: bytes, method: str, path: str, headers: dict[str, str], body: bytes | Iterable[bytes],
           now: float) -> int | None:
    """The sender's tracker number if the request is genuine and fresh, else None."""
    sender, when, signature = headers.get("X-GS-From", ""), headers.get("X-GS-Time", ""), \
        headers.get("X-GS-Signature", "")
    if not _digits(sender, when) or len(signature) != 64:
        return None
    if abs(now - int(when)) > MAX_SKEW_S:
        return None
    if not hmac.compare_digest(_mac(key, method, path, when, sender, body), signature):
        return None
    return int(sender)
