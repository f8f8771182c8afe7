"""A node whose data directory holds something broken starts anyway when what is broken can be made anew (its TLS
identity, the browser's session counts) and otherwise says one ``client: error: ...`` line naming the file."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from pathlib import Path

import pytest

from bench.ports import free_port
from peer_node.swarm import tls
from peer_node.web_ui.security import VERSIONS_FILE, SessionVersions
from tests.support.cluster import ROOT, Cluster
from wire.dir_lock import DataDirError, DirInUse, DirLock


def test_a_half_written_identity_is_moved_aside_and_a_new_one_made(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    first = tls.load_or_create_identity(tmp_path)
    key = tmp_path / tls.KEY_FILE
    key.write_bytes(key.read_bytes()[:100])  # as a full disk left it at a first start
    with caplog.at_level(logging.WARNING):
        second = tls.load_or_create_identity(tmp_path)
    assert second.fingerprint != first.fingerprint
    assert tls.load_or_create_identity(tmp_path).fingerprint == second.fingerprint  # and it stays
    aside = sorted(p.name for p in tmp_path.iterdir() if ".damaged-" in p.name)
    assert [name.split(".damaged-")[0] for name in aside] == [tls.CERT_FILE, tls.KEY_FILE]
    assert "log in again" in caplog.text


def test_a_certificate_of_another_key_is_a_damaged_identity_too(tmp_path: Path) -> None:
    first = tls.load_or_create_identity(tmp_path / "a")
    other = tls.load_or_create_identity(tmp_path / "b")
    (tmp_path / "a" / tls.CERT_FILE).write_bytes((tmp_path / "b" / tls.CERT_FILE).read_bytes())
    made = tls.load_or_create_identity(tmp_path / "a")
    assert made.fingerprint not in (first.fingerprint, other.fingerprint)


def test_an_identity_whose_write_failed_leaves_no_half_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        tls.load_or_create_identity(tmp_path)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert list(tmp_path.iterdir()) == []  # no peer-key.pem cut short: the next start makes a whole identity
    tls.load_or_create_identity(tmp_path)


def test_a_lock_whose_pid_cannot_be_written_is_held_all_the_same(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    lock = DirLock.acquire(tmp_path)
    try:
        with pytest.raises(DirInUse):
            DirLock.acquire(tmp_path)
    finally:
        lock.release()
    DirLock.acquire(tmp_path).release()


def test_session_counts_in_a_directory_are_moved_aside_and_started_again(tmp_path: Path) -> None:
    (tmp_path / VERSIONS_FILE).mkdir()
    versions = SessionVersions(tmp_path)
    assert versions.damaged
    versions.repair()
    assert (tmp_path / VERSIONS_FILE).read_bytes() == b"{}"
    assert [p.is_dir() for p in tmp_path.iterdir() if p.name.startswith(f"{VERSIONS_FILE}.damaged-")] == [True]


def _start(cluster: Cluster, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "client"), f"127.0.0.1:{free_port()}", str(cluster.list_path), "--web-port",
                           str(free_port()), "--data-dir", str(data_dir), "--no-console"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=cluster.tmp)


def test_an_api_key_that_is_a_directory_is_one_error_line_naming_it(tmp_path: Path) -> None:
    with Cluster(tmp_path) as cluster:
        data = tmp_path / "d"
        (data / "api-key").mkdir(parents=True)
        run = _start(cluster, data)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(f"client: error: cannot start: {data / 'api-key'}: "
                                                          f"Is a directory"), run.stderr


def test_a_node_with_a_damaged_identity_starts_logged_out_and_asks_for_a_login(tmp_path: Path) -> None:
    with Cluster(tmp_path) as cluster:
        cluster.start_tracker(1)
        alice = cluster.start_node("alice")
        alice.login()
        fingerprint = alice.api("/api/status")["fingerprint"]
        alice.kill()
        key = alice.data_dir / tls.KEY_FILE
        key.write_bytes(key.read_bytes()[:100])
        alice.start()
        status = alice.api("/api/status")
        assert status["fingerprint"] != fingerprint
        assert status["user_id"] is None  # the tracker lists the old fingerprint: a new login is asked for
        assert alice.proc is not None
        said = alice.proc.log_path.read_text("utf-8", "replace")
        assert "must log in again" in said and "log in again" in said.split("must log in again", 1)[1]
        alice.ok(f"login alice {alice.password}")
        assert alice.api("/api/status")["user_id"] == "alice"


def test_a_lock_file_that_is_a_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "lock").mkdir()
    with pytest.raises(DataDirError, match=f"its lock file {tmp_path / 'lock'} is a directory"):
        DirLock.acquire(tmp_path)
