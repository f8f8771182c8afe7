"""Signed access tokens: a tracker's short-lived permission for one user to fetch one file.

Theory of operation: every tracker of a cluster derives the same Ed25519 key from the cluster secret (HKDF), so a
token minted by any tracker verifies everywhere; peers learn the public key at login. A token names the user, the
group, the file (its whole-file SHA-256), the requesting node's certificate fingerprint (empty until peers use
TLS), the tracker epoch that minted it and its expiry. Wire form: ``base64url(payload JSON) "." base64url(sig)``,
ASCII, at most ``MAX_TOKEN_BYTES``. Pure: time is passed in.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAX_TOKEN_BYTES = 2048
DEFAULT_TTL_S = 300
_HKDF_INFO = b"groupshare access-token signing key v1"


class InvalidToken(Exception):
    """The token is malformed, forged, expired or for something else."""


@dataclass(frozen=True, slots=True)
class AccessGrant:
    user_id: str
    group_id: str
    file_sha256: str  # hex, lower case
    fingerprint: str  # hex SHA-256 of the holder's certificate, "" when not bound
    epoch: int
    expires_at: float  # unix seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key_from_secret(secret: bytes) -> Ed25519PrivateKey:
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_hex(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def mint_token(key: Ed25519PrivateKey, grant: AccessGrant) -> str:
    payload = {
        "u": grant.user_id, "g": grant.group_id, "f": grant.file_sha256, "fp": grant.fingerprint,
        "e": grant.epoch, "x": int(grant.expires_at),
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return body + "." + _b64(key.sign(body.encode("ascii")))


class TokenVerifier:
    """Checks tokens against the public keys a node trusts (normally the one key of its tracker cluster)."""

    def __init__(self, public_keys_hex: list[str]) -> None:
        self._keys: list[Ed25519PublicKey] = []
        for key_hex in public_keys_hex:
            try:
                self._keys.append(Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex)))
            except ValueError as exc:
                raise ValueError(f"bad public key {key_hex[:16]}...: {exc}") from None

    def verify(self, token: str | bytes, *, now: float, file_sha256: str, fingerprint: str = "") -> AccessGrant:
        """Return the grant if ``token`` is genuine, unexpired, for ``file_sha256`` and bound to ``fingerprint``
        (when the token names one); raise InvalidToken otherwise."""
        grant = self._decode(token)
        if grant.expires_at <= now:
            raise InvalidToken("token expired")
        if grant.file_sha256 != file_sha256.lower():
            raise InvalidToken("token is for another file")
        if grant.fingerprint and grant.fingerprint != fingerprint:
            raise InvalidToken("token is bound to another node")
        return grant

    def _decode(self, token: str | bytes) -> AccessGrant:
        if isinstance(token, bytes):
            if len(token) > MAX_TOKEN_BYTES:
                raise InvalidToken("token too long")
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError:
                raise InvalidToken("token is not ASCII") from None
        if len(token) > MAX_TOKEN_BYTES or token.count(".") != 1:
            raise InvalidToken("malformed token")
        body, sig_text = token.split(".")
        try:
            sig = _unb64(sig_text)
            payload = json.loads(_unb64(body))
        except (binascii.Error, ValueError, RecursionError):  # deep nesting: checked before the signature
            raise InvalidToken("malformed token") from None
        if not any(self._signed_by(key, sig, body) for key in self._keys):
            raise InvalidToken("token not signed by a trusted tracker key")
        try:
            return AccessGrant(
                user_id=str(payload["u"]), group_id=str(payload["g"]), file_sha256=str(payload["f"]).lower(),
                fingerprint=str(payload["fp"]), epoch=int(payload["e"]), expires_at=float(payload["x"]),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidToken("malformed token payload") from None

    @staticmethod
    def _signed_by(key: Ed25519PublicKey, sig: bytes, body: str) -> bool:
        try:
            key.verify(sig, body.encode("ascii"))
        except InvalidSignature:
            return False
        return True
