"""Schemathesis against a real tracker process, from its own /api/v1/openapi.json: whatever it is sent (valid,
malformed, hostile), it never answers 5xx and every answer fits the document (status, content type, schema).
The calls carry a real session so the authenticated routes are reached; the examples per route stay few so the
whole run takes about a minute on a busy machine."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.tracker.procs import TrackerProc, wait_healthy, write_tracker_list

MAX_EXAMPLES = 30


def _post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, json.dumps({**body, "op_id": uuid.uuid4().hex}).encode(), headers)
    with urllib.request.urlopen(request, timeout=10) as resp:
        data: dict[str, Any] = json.load(resp)
        return data


@pytest.fixture(scope="module")
def tracker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    list_file, ports = write_tracker_list(tmp, 1)
    proc = TrackerProc(list_file, 1, tmp / "t1")
    try:
        wait_healthy(ports[0])
        yield f"http://127.0.0.1:{ports[0]}"
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def session_token(tracker_url: str) -> str:
    api = f"{tracker_url}/api/v1"
    _post(f"{api}/users", {"user_id": "fuzzer", "password": "pw-fuzzer"})
    token = str(_post(f"{api}/sessions", {"user_id": "fuzzer", "password": "pw-fuzzer",
                                          "peer_addr": "127.0.0.1:7999"})["session"])
    _post(f"{api}/groups", {"group_id": "g1"}, token)
    return token


def _auth_headers(case: Any, token: str) -> dict[str, str]:
    if case.path == "/api/v1/sessions/current" and case.method == "DELETE":
        return {"Authorization": "Bearer not-our-session"}  # keep ours alive for the other routes
    if "Authorization" in (case.headers or {}):
        return {}  # the case tests an Authorization header of its own
    return {"Authorization": f"Bearer {token}"}


def test_tracker_api_never_5xx_and_always_fits_its_schema(tracker_url: str, session_token: str) -> None:
    schema = schemathesis.openapi.from_url(f"{tracker_url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    public = [op for op in operations if not op.path.startswith("/internal/")]
    assert len(public) >= 17
    for operation in public:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def run(case: Any) -> None:
            # Every default check, less 'valid data is accepted' (the document is looser than the rules, e.g. a
            # peer_addr port over 65535): what matters here is no 5xx, no answer outside the document, and
            # that data the document rules out is refused.
            case.call_and_validate(base_url=tracker_url, headers=_auth_headers(case, session_token),
                                  excluded_checks=[positive_data_acceptance])

        run()
