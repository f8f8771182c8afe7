"""Starting ``./client`` where it cannot run: a data directory in use by another node (refused, the running node
undisturbed), a piece or web port in use (one error line); and the open-file limit it raises at start."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

from bench.ports import free_port
from tests.support.cluster import ROOT, Cluster, http_request, port_taken, wait_until


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


def _open_file_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-file limit listed")


def test_a_node_raises_its_open_file_limit_to_the_hard_one(cluster: Cluster) -> None:
    web_port = free_port()

    def low_soft_limit() -> None:  # as most shells start programs: 1,024 or less under a far higher hard limit
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    node = subprocess.Popen([str(ROOT / "client"), f"127.0.0.1:{free_port()}", str(cluster.list_path),
                             "--web-port", str(web_port), "--data-dir", str(cluster.tmp / "d"), "--no-console"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=cluster.tmp, preexec_fn=low_soft_limit)
    try:
        wait_until(lambda: http_request(web_port, "GET", "/healthz", timeout=1)[0] == 200, 60, "the node")
        soft, hard = _open_file_limits(node.pid)
        assert soft == hard and soft > 256
    finally:
        node.terminate()
        node.wait(timeout=30)
