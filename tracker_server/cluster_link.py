"""One tracker's signed requests to the other trackers of its list (``/internal/v1/...``).

Every body is signed with the cluster key (``cluster_auth``); an answer must be a JSON object. A peer's refusal of
our signature is told apart from any other 403 (some other server at a dead tracker's address), because it means a
configuration error, not weather: it raises ``SignatureRefused`` and is logged once a minute while it lasts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp

from tracker_server.cluster_auth import SIGNATURE_REFUSED, cluster_key, sign
from tracker_server.config import TrackerConfig

log = logging.getLogger(__name__)
SECRET_WARNING_EVERY_S = 60.0
STORE_WARNING_EVERY_S = 60.0
HASH_IN_THREAD_BYTES = 1 << 20  # below, a thread's round trip costs more than the hash (a few ms)


async def refuses_signature(resp: aiohttp.ClientResponse) -> bool:
    """Whether a 403 is a tracker's refusal of our signature (not some other server at a dead tracker's address)."""
    try:
        body = await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return False
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("message") == SIGNATURE_REFUSED


async def cannot_store(resp: aiohttp.ClientResponse) -> str | None:
    """Why a 503 is a running tracker's refusal to store what it was sent (``store_health``); None if it is not."""
    try:
        body = await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message.removeprefix("cannot store: ") if isinstance(message, str) and \
        message.startswith("cannot store: ") else None


class NoSuchRoute(ValueError):
    """The tracker answered 404: it has no such route (a tracker of an earlier release, for a newer route)."""


class SignatureRefused(ValueError):
    """The other tracker answered but refused our signature: another cluster secret, or a clock far off."""


class ClusterLink:
    """The HTTP session to the other trackers, open between ``start`` and ``close``."""

    def __init__(self, config: TrackerConfig) -> None:
        self.cfg = config
        self.key = cluster_key(config.secret)
        self.me = config.tracker_no
        self.http: aiohttp.ClientSession | None = None
        self._warned: dict[int, float] = {}  # peer -> when we last said it refuses our signature (monotonic)
        self._store_warned: dict[int, float] = {}  # peer -> when we last said it cannot store (monotonic)

    def start(self) -> None:
        self.http = aiohttp.ClientSession()

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

    async def post(self, no: int, path: str, body: dict[str, Any], limit_s: float | None = None) -> dict[str, Any]:
        """POST ``body`` to tracker ``no``; its JSON object answer, or raise (``SignatureRefused``, ValueError for
        another status or a non-object, aiohttp/OS errors for a tracker that cannot be reached)."""
        return await self.post_raw(no, path, json.dumps(body, separators=(",", ":")).encode("utf-8"), limit_s)

    async def post_raw(self, no: int, path: str, raw: bytes | bytearray,
                       limit_s: float | None = None) -> dict[str, Any]:
        """``post`` of a body already encoded (a snapshot: ``Store.dump_encoded``)."""
        assert self.http is not None
        target = self.cfg.trackers[no - 1]
        if len(raw) > HASH_IN_THREAD_BYTES:  # the signature hashes the body: 0.1-0.5 s for a snapshot
            signed = await asyncio.to_thread(sign, self.key, "POST", path, self.me, raw, time.time())
        else:
            signed = sign(self.key, "POST", path, self.me, raw, time.time())
        headers = {"Content-Type": "application/json", **signed}
        wait = aiohttp.ClientTimeout(total=limit_s or self.cfg.tracker_timeout)
        async with self.http.post(target.url + path, data=raw, headers=headers, timeout=wait) as resp:
            if resp.status == 403 and await refuses_signature(resp):
                self._warn_refused(no)
                raise SignatureRefused(f"tracker {no} refused our signature on {path}")
            if resp.status == 503 and (why := await cannot_store(resp)) is not None:
                self._warn_cannot_store(no, why)
                raise ValueError(f"tracker {no} cannot store: {why}")
            if resp.status == 404:
                raise NoSuchRoute(f"tracker {no} answered 404 to {path}")
            if resp.status != 200:
                raise ValueError(f"tracker {no} answered {resp.status} to {path}")
            answer = await resp.json()
        if not isinstance(answer, dict):
            raise ValueError(f"tracker {no} answered a non-object to {path}")
        return answer

    def _warn_cannot_store(self, no: int, why: str) -> None:
        now = time.monotonic()
        if now - self._store_warned.get(no, -STORE_WARNING_EVERY_S) >= STORE_WARNING_EVERY_S:
            # It answers pings, so nothing else shows that it falls behind; were this tracker to fail now, the
            # writes it has not stored would be lost. Said once a minute while it lasts, not at every write.
            self._store_warned[no] = now
            log.warning("tracker %d runs but cannot store what this tracker sends it (%s): it falls behind until it "
                        "can (said again every minute while it lasts)", no, why)

    def _warn_refused(self, no: int) -> None:
        now = time.monotonic()
        if now - self._warned.get(no, -SECRET_WARNING_EVERY_S) >= SECRET_WARNING_EVERY_S:
            # A configuration error, not weather: said again every minute while it lasts (once was missed in a busy
            # log while both trackers went on as primaries), not at every exchange.
            self._warned[no] = now
            log.error("tracker %d refuses our signature: do all trackers share the same cluster secret file, and do "
                      "their clocks agree within 30 s? (said again every minute while it lasts)", no)
