"""A cluster of real ``./tracker`` processes for the failover tests, and clients that behave like peer nodes:
every write carries an op_id kept across retries, and a failed call moves on to the next tracker."""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiohttp

from tracker_server.cluster_auth import cluster_key, sign

from .procs import TrackerProc, http, wait_healthy, write_tracker_list

TRACKER_TIMEOUT = "1"


class Cluster:
    def __init__(self, tmp: Path, size: int) -> None:
        self.tmp = tmp
        self.list_file, self.ports = write_tracker_list(tmp, size)
        self.procs: dict[int, TrackerProc] = {}

    def start(self, no: int) -> None:
        self.procs[no] = TrackerProc(self.list_file, no, self.tmp / f"data{no}", "--tracker-timeout",
                                     TRACKER_TIMEOUT, "--peer-timeout", "5")

    def start_all(self) -> None:
        for no in range(1, len(self.ports) + 1):
            self.start(no)
        for port in self.ports:
            wait_healthy(port)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    def __enter__(self) -> Self:
        """Every tracker started and healthy (those started already stopped again if one is not)."""
        try:
            self.start_all()
        except BaseException:
            self.stop_all()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def health(self, no: int) -> dict[str, Any] | None:
        try:
            status, body = http(self.ports[no - 1], "GET", "/healthz", timeout=2)
        except OSError:
            return None
        return dict(body) if status == 200 else None

    def wait_primary(self, among: list[int] | None = None, timeout: float = 30) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for no in among or range(1, len(self.ports) + 1):
                health = self.health(no)
                if health and health["role"] == "primary":
                    return no
            time.sleep(0.05)
        raise TimeoutError("no primary elected")

    def digest(self, no: int) -> dict[str, Any]:
        key = cluster_key((self.tmp / "cluster.secret").read_bytes().strip())
        path = "/internal/v1/digest"
        body = b"{}"
        req_headers = {"Content-Type": "application/json", **sign(key, "POST", path, 1 if no != 1 else 2, body,
                                                                   time.time())}
        req = urllib.request.Request(f"http://127.0.0.1:{self.ports[no - 1]}{path}", data=body, method="POST",
                                     headers=req_headers)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return dict(json.loads(resp.read()))

    def wait_converged(self, members: list[int], timeout: float = 30) -> dict[str, Any]:
        """Wait until the trackers report the same log position and table digest; return one digest."""
        end = time.monotonic() + timeout
        while True:
            digests = [self.digest(no) for no in members]
            if all((d["digest"], d["log_index"]) == (digests[0]["digest"], digests[0]["log_index"])
                   for d in digests):
                return digests[0]
            if time.monotonic() > end:
                seen = [(d["log_index"], d["digest"][:8]) for d in digests]
                raise AssertionError(f"trackers did not converge: {seen}")
            time.sleep(0.1)


@dataclass
class Client:
    """One peer-node-like client: remembers acknowledged writes (op_id -> what) and when it last succeeded."""

    urls: list[str]
    http: aiohttp.ClientSession
    current: int = 0
    token: str | None = None
    acked: dict[str, tuple[str, Any]] = field(default_factory=dict)
    successes: list[float] = field(default_factory=list)

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
                   deadline: float) -> tuple[int, Any]:
        """Retry across trackers on connection errors and 5xx, and wait out 429s, until ``deadline``; a 2xx/4xx is
        the answer."""
        if body is not None and method != "GET":
            body = {**body, "op_id": body.get("op_id") or uuid.uuid4().hex}
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        while True:
            url = self.urls[self.current] + path
            try:
                async with self.http.request(method, url, json=body, headers=headers,
                                             timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    status, answer = resp.status, await resp.json()
                    retry_after = resp.headers.get("Retry-After")
                if status == 429 and time.monotonic() < deadline:
                    # Rate limits (one password hash at a time per address, writes per user): wait a little. Not the
                    # whole Retry-After: 20 clients on one address, all waiting 1 s, would collide again each second.
                    await asyncio.sleep(min(float(retry_after or 1), random.uniform(0.01, 0.1)))
                    continue
                if status < 500:
                    if status < 300:
                        self.successes.append(time.monotonic())
                        if body is not None and method != "GET":
                            self.acked[body["op_id"]] = (path, answer)
                    return status, answer
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {path}: no tracker answered")
            self.current = (self.current + 1) % len(self.urls)
            await asyncio.sleep(0.05)
