"""Starting ``./client`` where it cannot run: a data directory in use by another node (refused, the running node
undisturbed), a piece port in use (one error line)."""

from __future__ import annotations

import subprocess

from bench.ports import free_port
from tests.support.cluster import ROOT, Cluster, port_taken


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



def test_a_piece_port_in_use_is_one_error_line_and_exit_1(cluster: Cluster) -> None:
    with port_taken() as port:
        run = subprocess.run([str(ROOT / "client"), f"127.0.0.1:{port}", str(cluster.list_path), "--web-port",
                              str(free_port()), "--data-dir", str(cluster.tmp / "d"), "--no-console"],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=cluster.tmp)
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line or line.startswith("client: error")]
    assert errors == [f"client: error: cannot listen on the piece port 127.0.0.1:{port}: the address is in use "
                      f"(another node still running? or choose another IP:PORT)"], run.stderr
    # (one line: no "Unclosed client session" after it)


def test_a_web_port_in_use_is_one_error_line_and_exit_1(cluster: Cluster) -> None:
    with port_taken() as port:
        run = subprocess.run([str(ROOT / "client"), f"127.0.0.1:{free_port()}", str(cluster.list_path), "--web-port",
                              str(port), "--data-dir", str(cluster.tmp / "d"), "--no-console"],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, cwd=cluster.tmp)
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line or line.startswith("client: error")]
    assert errors == [f"client: error: cannot listen on the web port 127.0.0.1:{port}: the address is in use "
                      f"(another node still running? or choose another with --web-port)"], run.stderr
