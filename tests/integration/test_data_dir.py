"""One node per data directory: a second ``./client`` on a running node's ``--data-dir`` is refused, and the
running node is not disturbed."""

from __future__ import annotations

import subprocess

from bench.ports import free_port
from tests.support.cluster import ROOT, Cluster


def test_a_second_node_on_a_data_dir_in_use_exits_with_a_clear_error(cluster: Cluster) -> None:
    alice = cluster.start_node("alice")
    alice.login()
    session_before = (alice.data_dir / "session.json").read_bytes()
    assert alice.proc is not None
    run = subprocess.run([str(ROOT / "client"), f"127.0.0.1:{free_port()}", str(cluster.list_path),
                          "--web-port", str(free_port()), "--data-dir", str(alice.data_dir)],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=cluster.tmp)
    assert run.returncode == 1, run
    assert run.stderr.strip() == (f"client: error: data directory {alice.data_dir} is in use by process "
                                  f"{alice.proc.popen.pid}: one process per data directory (stop the other one "
                                  f"or give another --data-dir)")
    assert (alice.data_dir / "session.json").read_bytes() == session_before
    assert alice.api("/api/status")["user_id"] == "alice"  # the running node is not disturbed
    alice.kill()  # SIGKILL: the kernel drops the lock with the process
    cluster.start_node("alice")
    assert cluster.nodes["alice"].api("/api/status")["user_id"] == "alice"

