"""``./tracker`` as a real process: where it listens, ``quit``, end of stdin, signals, bad arguments."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path

import pytest

from bench.ports import free_port
from tests.support.cluster import port_taken
from tracker_server.data_identity import CLUSTER_KEY

from .procs import ROOT, TrackerProc, http, wait_healthy, write_tracker_list


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[TrackerProc]]:
    procs: list[TrackerProc] = []
    yield procs
    for proc in procs:
        proc.stop()


def _start(tmp_path: Path, started: list[TrackerProc]) -> tuple[TrackerProc, int]:
    list_file, ports = write_tracker_list(tmp_path, 1)
    proc = TrackerProc(list_file, 1, tmp_path / "data")
    started.append(proc)
    assert f"127.0.0.1:{ports[0]}" in proc.banner
    wait_healthy(ports[0])
    return proc, ports[0]


def test_quit_on_stdin_stops_the_tracker(tmp_path: Path, started: list[TrackerProc]) -> None:
    proc, port = _start(tmp_path, started)
    status, body = http(port, "POST", "/api/v1/users", {"user_id": "alice", "password": "pw", "op_id": "op1"})
    assert (status, body) == (201, {"user_id": "alice"})
    assert (tmp_path / "cluster.secret").stat().st_mode & 0o777 == 0o600
    proc.type("quit\n")
    assert proc.wait() == 0


def test_end_of_stdin_does_not_stop_the_tracker_but_sigterm_does(tmp_path: Path,
                                                                 started: list[TrackerProc]) -> None:
    proc, port = _start(tmp_path, started)
    proc.close_stdin()
    for i in range(5):  # it keeps serving after its input ended
        assert http(port, "POST", "/api/v1/users", {"user_id": f"u{i}", "password": "pw", "op_id": f"o{i}"})[0] == 201
    assert proc.proc.poll() is None
    proc.signal(signal.SIGTERM)
    assert proc.wait() == 0


@pytest.mark.parametrize("content, number, fragment", [
    ("127.0.0.1:7001\n", 2, "out of range"),
    ("# trackers\n127.0.0.1:7001\nnot-a-host:x:y\n", 1, "line 3"),
    ("127.0.0.1:99999\n", 1, "line 1"),
    ("127.0.0.1:7001\n", "١", "is not a number"),
    ("127.0.0.1:7001\n", "+1", "is not a number"),
    ("127.0.0.1:7001\n", "-1", "tracker number -1 is out of range: it counts from 1"),
    ("\ufeff127.0.0.1:7001\n127.0.0.1:7001\n", 1, "line 2: 127.0.0.1:7001 is already tracker 1"),
])
def test_bad_tracker_list_or_number_is_one_line_and_status_2(tmp_path: Path, content: str, number: int | str,
                                                            fragment: str) -> None:
    list_file = tmp_path / "t.txt"
    list_file.write_text(content, encoding="utf-8")
    run = subprocess.run([str(ROOT / "tracker"), str(list_file), str(number), "--data-dir", str(tmp_path / "d")],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and fragment in run.stderr


def test_a_tracker_started_with_no_stdin_at_all_runs(tmp_path: Path) -> None:
    list_file, ports = write_tracker_list(tmp_path, 1)
    proc = subprocess.Popen([str(ROOT / "tracker"), str(list_file), "1", "--data-dir", str(tmp_path / "d")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.close(0))
    try:
        wait_healthy(ports[0])  # Python's sys.stdin is None then: no console, and no crash
        assert proc.poll() is None
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err


def test_a_data_dir_it_cannot_use_is_one_line_naming_the_path_and_status_1(tmp_path: Path) -> None:
    list_file, _ = write_tracker_list(tmp_path, 1)
    (tmp_path / "d" / "tracker.sqlite3").mkdir(parents=True)  # where the database goes, a directory
    run = subprocess.run([str(ROOT / "tracker"), str(list_file), "1", "--data-dir", str(tmp_path / "d")],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [f"tracker: Is a directory ({tmp_path / 'd' / 'tracker.sqlite3'})"]


def test_the_port_in_the_banner_is_the_list_entry(tmp_path: Path, started: list[TrackerProc]) -> None:
    list_file = tmp_path / "t.txt"
    port = free_port()
    list_file.write_text(f"127.0.0.1 {free_port()} first\n127.0.0.1\n{port}\n", encoding="utf-8")
    proc = TrackerProc(list_file, 2, tmp_path / "d2")
    started.append(proc)
    assert f"127.0.0.1:{port}" in proc.banner
    assert wait_healthy(port)["tracker_no"] == 2


def test_the_process_answers_heartbeats_on_its_fast_path_and_the_rest_through_aiohttp(
        tmp_path: Path, started: list[TrackerProc]) -> None:
    _, port = _start(tmp_path, started)
    assert http(port, "POST", "/api/v1/users", {"user_id": "ann", "password": "pw", "op_id": "o1"})[0] == 201
    status, login = http(port, "POST", "/api/v1/sessions", {"user_id": "ann", "password": "pw",
                                                            "peer_addr": "127.0.0.1:7001", "op_id": "o2"})
    assert status == 200
    conn = HTTPConnection("127.0.0.1", port, timeout=10)  # one keep-alive connection for all three
    try:
        answers = []
        for method, path, body in (("POST", "/api/v1/heartbeat", b'{"holdings": []}'), ("GET", "/healthz", None),
                                   ("POST", "/api/v1/heartbeat", b'{"holdings": []}')):
            conn.request(method, path, body=body, headers={"Authorization": f"Bearer {login['session']}"})
            resp = conn.getresponse()
            answers.append((resp.status, resp.getheader("Server") is None, json.loads(resp.read())))
    finally:
        conn.close()
    # aiohttp names itself in a Server header, the fast path does not; after /healthz the connection is aiohttp's
    assert [(status, fast) for status, fast, _ in answers] == [(200, True), (200, False), (200, False)]
    assert answers[0][2] == answers[2][2] and set(answers[0][2]) == {"heartbeat_interval", "epoch"}


def test_a_second_tracker_on_a_data_dir_in_use_exits_with_a_clear_error(tmp_path: Path,
                                                                       started: list[TrackerProc]) -> None:
    list_file, ports = write_tracker_list(tmp_path, 2)
    first = TrackerProc(list_file, 1, tmp_path / "data")
    started.append(first)
    wait_healthy(ports[0])
    run = subprocess.run([str(ROOT / "tracker"), str(list_file), "2", "--data-dir", str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert run.returncode == 1
    assert run.stderr.strip() == (f"tracker: data directory {tmp_path / 'data'} is in use by process "
                                  f"{first.proc.pid}: one process per data directory (stop the other one or give "
                                  f"another --data-dir)")
    assert wait_healthy(ports[0])["tracker_no"] == 1  # the running tracker is not disturbed


def _stop(proc: TrackerProc) -> str:
    """Stop ``proc``; its log so far."""
    proc.stop()
    return proc.log_path.read_text("utf-8", "replace")


def test_a_data_dir_of_another_tracker_number_or_cluster_is_named_at_start(tmp_path: Path,
                                                                            started: list[TrackerProc]) -> None:
    list_file, ports = write_tracker_list(tmp_path, 2)
    data = tmp_path / "data"
    first = TrackerProc(list_file, 1, data, "--tracker-timeout", "1")
    started.append(first)
    assert "empty: a new cluster starts here, or the state is copied" in first.banner
    # Alone of two, tracker 1 writes nothing (no majority): give the data dir a log entry by hand.
    assert _stop(first).count("data dir") == 0
    with sqlite3.connect(data / "tracker.sqlite3") as db:
        db.execute("INSERT INTO log(idx, epoch, op_id, op, result) VALUES (1, 1, 'x', '{\"t\":\"noop\"}', 'null')")
        recorded_cluster = db.execute("SELECT value FROM meta WHERE key = ?", (CLUSTER_KEY,)).fetchone()[0]
    second = TrackerProc(list_file, 2, data, "--tracker-timeout", "1")
    started.append(second)
    assert "log index 1" in second.banner
    wait_healthy(ports[1])
    said = _stop(second)
    assert f"data dir {data} was tracker 1's and is now tracker 2's" in said
    assert "another cluster" not in said
    other_secret = tmp_path / "other.secret"
    other_secret.write_text("another cluster's secret\n", encoding="utf-8")
    third = TrackerProc(list_file, 2, data, "--secret-file", str(other_secret))
    started.append(third)
    wait_healthy(ports[1])
    said = _stop(third)
    assert f"data dir {data} holds the state of another cluster (cluster secret {recorded_cluster}" in said
    assert said.count("was tracker 1's") == 1  # told once: the data dir now records tracker 2


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_database_is_one_clear_line_and_an_exit_not_a_hang(tmp_path: Path, started: list[TrackerProc],
                                                                     damage: str) -> None:
    list_file, ports = write_tracker_list(tmp_path, 1)
    data = tmp_path / "data"
    if damage == "garbage":
        data.mkdir(mode=0o700)
        (data / "tracker.sqlite3").write_bytes(b"not a database, " * 1024)
    else:  # a real database cut short, as a full disk or a bad copy leaves it
        first = TrackerProc(list_file, 1, data)
        started.append(first)
        wait_healthy(ports[0])
        first.stop()
        db = data / "tracker.sqlite3"
        for extra in ("tracker.sqlite3-wal", "tracker.sqlite3-shm"):
            (data / extra).unlink(missing_ok=True)
        with open(db, "r+b") as f:
            f.truncate(8192)
            f.seek(4096)
            f.write(b"\xff" * 4096)
    run = subprocess.run([str(ROOT / "tracker"), str(list_file), "1", "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert run.returncode == 1, run.stderr
    assert run.stderr.startswith(f"tracker: the database {data / 'tracker.sqlite3'} cannot be read (")
    assert "move the data directory aside" in run.stderr and "Traceback" not in run.stderr


def test_a_taken_port_is_one_line_saying_so_and_status_1(tmp_path: Path) -> None:
    with port_taken() as port:
        list_file = tmp_path / "t.txt"
        list_file.write_text(f"127.0.0.1:{port}\n", encoding="utf-8")
        run = subprocess.run([str(ROOT / "tracker"), str(list_file), "1", "--data-dir", str(tmp_path / "d")],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert run.returncode == 1
    assert run.stderr.strip() == (f"tracker: cannot listen on 127.0.0.1:{port}: the address is in use (another "
                                  f"tracker of this list still running?)")
