"""TLS on the peer transport: one self-signed certificate per node, pinned by its SHA-256 fingerprint.

Theory of operation: no certificate authority is involved. Each node makes an ECDSA P-256 key and a self-signed
certificate once (``load_or_create_identity``) and registers the certificate's fingerprint with the tracker at
login; the tracker lists it beside the node's address and binds every access token it mints to the requesting
node's fingerprint. The downloader pins the seeder: after the TLS handshake it compares the server
certificate's fingerprint with the one the tracker listed and hangs up on a mismatch before sending anything.
The seeder authenticates the downloader without TLS client certificates (Python's ``ssl`` cannot accept
arbitrary self-signed client certificates): the downloader's HANDSHAKE carries its certificate and a signature,
made with the certificate's key, over the TLS channel binding (``tls-unique``, the same value at both ends of
one TLS connection and different on any other). So the signature proves that *this connection's* client holds
the key of the certificate whose fingerprint the token names; a token copied to another node, or a proof
replayed on another connection, is worthless. ``tls-unique`` is defined for TLS 1.2, so peers speak TLS 1.2
with AEAD ciphers and extended master secret (OpenSSL's default), which closes the triple-handshake gap.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from peer_node.data_files import move_aside, write_atomic
from wire.peer_protocol import ProtocolError

log = logging.getLogger(__name__)

PROOF_CONTEXT = b"groupshare peer proof v1\0"
CERT_FILE, KEY_FILE = "peer-cert.pem", "peer-key.pem"
_CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"


@dataclass(frozen=True)
class NodeIdentity:
    cert_path: Path
    key_path: Path
    cert_der: bytes
    fingerprint: str  # hex SHA-256 of cert_der
    key: ec.EllipticCurvePrivateKey

    def prove(self, binding: bytes) -> bytes:
        """Sign this connection's channel binding with the certificate's key."""
        return self.key.sign(PROOF_CONTEXT + binding, ec.ECDSA(hashes.SHA256()))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _restrict(ctx)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        ctx.verify_mode = ssl.CERT_NONE  # clients prove their certificate inside the peer handshake
        return ctx


def client_context() -> ssl.SSLContext:
    """For connecting to seeders: no CA check (self-signed); the caller pins the fingerprint instead."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _restrict(ctx)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _restrict(ctx: ssl.SSLContext) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # tls-unique channel binding
    ctx.set_ciphers(_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION


def fingerprint_of(cert_der: bytes) -> str:
    return hashlib.sha256(cert_der).hexdigest()


def load_or_create_identity(directory: Path) -> NodeIdentity:
    """The node's key and certificate under ``directory`` (created at first start, key mode 0600).

    Files that exist but do not parse (a first start cut short by a full disk, a kill before atomic writes, a hand
    edit) are moved aside as ``<name>.damaged-<time>`` and a new identity is made, with a warning: refusing would
    leave the node unable to start ever again, and the identity holds nothing that cannot be made anew (a new
    fingerprint only costs a new login, which the node asks for at start). A file that cannot be read at all (a
    directory in its place, no permission) is an OSError naming it, for the caller to say."""
    cert_path, key_path = directory / CERT_FILE, directory / KEY_FILE
    if cert_path.exists() and key_path.exists():
        try:
            return _load(cert_path, key_path)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            aside = [move_aside(path) for path in (key_path, cert_path)]
            log.warning("the node's TLS identity (%s, %s) cannot be read (%s): moved aside as %s; a new one is made, "
                        "so its fingerprint changes and a logged-in node must log in again", key_path, cert_path,
                        exc, ", ".join(str(p) for p in aside))
    return _create(directory, cert_path, key_path)


def _load(cert_path: Path, key_path: Path) -> NodeIdentity:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path} is not an EC key")
    if cert.public_key() != loaded.public_key():  # one file of another identity: TLS would refuse the pair
        raise ValueError(f"{cert_path} is not the certificate of {key_path}")
    der = cert.public_bytes(serialization.Encoding.DER)
    return NodeIdentity(cert_path, key_path, der, fingerprint_of(der), loaded)


def _create(directory: Path, cert_path: Path, key_path: Path) -> NodeIdentity:
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "groupshare-node")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    # Atomic and synced, key first: a start cut short leaves the old files or no certificate, never half a file
    # (which made every later start fail), and a certificate on disk always has its key beside it.
    write_atomic(key_path, key_pem, 0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    der = cert.public_bytes(serialization.Encoding.DER)
    return NodeIdentity(cert_path, key_path, der, fingerprint_of(der), key)


def channel_binding(transport: asyncio.BaseTransport) -> bytes:
    ssl_object = transport.get_extra_info("ssl_object")
    binding = ssl_object.get_channel_binding("tls-unique") if ssl_object is not None else None
    if not binding:
        raise ProtocolError("no TLS channel binding on this connection")
    return bytes(binding)


def server_fingerprint(transport: asyncio.BaseTransport) -> str:
    ssl_object = transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return fingerprint_of(der) if der else ""


def check_proof(cert_der: bytes, proof: bytes, binding: bytes) -> str:
    """The fingerprint of ``cert_der`` if ``proof`` is its key's signature over ``binding``; else ProtocolError."""
    try:
        public = x509.load_der_x509_certificate(cert_der).public_key()
    except (ValueError, UnsupportedAlgorithm):  # garbage, or a key type or curve this library does not know
        raise ProtocolError("malformed client certificate") from None
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise ProtocolError("client certificate must hold an EC key")
    try:
        public.verify(proof, PROOF_CONTEXT + binding, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ProtocolError("client certificate proof does not verify") from None
    return fingerprint_of(cert_der)
