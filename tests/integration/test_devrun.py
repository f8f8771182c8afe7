"""``make run`` (peer_node.devrun): a local tracker that cannot start stops it with a word, instead of a node
running against whatever holds the port; a port another tracker already answers on is used as it is."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from bench.ports import free_port
from peer_node.devrun import tracker_problems
from tests.support.cluster import ROOT, http_request, port_taken, wait_until
from wire.tracker_list import TrackerAddress


def exited() -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc


def test_a_tracker_that_did_not_start_is_used_if_one_answers_else_it_stops_the_run() -> None:
    one, two = TrackerAddress("127.0.0.1", 7001, 1), TrackerAddress("127.0.0.1", 7002, 2)
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        said = tracker_problems([(one, exited()), (two, running)], lambda t: t.port == 7001)
        assert said == ["tracker 1 did not start (its port 7001 or data dir is taken), but a tracker answers there, "
                        "left running by an earlier run perhaps: using that one (it keeps running after this run)"]
        said = tracker_problems([(one, exited())], lambda t: False)
        assert said == ["tracker 1 (127.0.0.1:7001) cannot start (its log: tracker_data/tracker-1.log); stopping"]
    finally:
        running.kill()
        running.wait()


def test_make_run_stops_when_its_tracker_cannot_start(tmp_path: Path) -> None:
    with port_taken() as port:
        (tmp_path / "trackers.txt").write_text(f"127.0.0.1:{port}\n", encoding="utf-8")
        run = subprocess.run([sys.executable, "-m", "peer_node.devrun", "trackers.txt", f"127.0.0.1:{free_port()}",
                              "--web-port", str(free_port())], cwd=tmp_path, capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    assert run.returncode == 1, run.stderr
    # why, in the tracker's own words from its log (not over the terminal), and where the rest is
    assert f"make run: tracker 1 (127.0.0.1:{port}) cannot start: tracker: cannot listen on" in run.stderr
    assert "(its log: tracker_data/tracker-1.log); stopping" in run.stderr
    assert "GroupShare node" not in run.stdout  # no node was started against the squatter


def _devrun(tmp_path: Path, tracker_port: int, web_port: int | None = None) -> tuple[subprocess.Popen[str], list[str]]:
    """``make run`` on a one-tracker list, its output lines gathered as they come."""
    (tmp_path / "trackers.txt").write_text(f"127.0.0.1:{tracker_port}\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "peer_node.devrun", "trackers.txt", f"127.0.0.1:{free_port()}",
                             "--web-port", str(web_port or free_port())], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    lines: list[str] = []
    assert proc.stdout is not None
    threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True).start()
    return proc, lines


def _answers(port: int) -> bool:
    try:
        return http_request(port, "GET", "/healthz", timeout=1)[0] == 200
    except OSError:
        return False


def test_make_run_stops_its_trackers_when_its_terminal_closes(tmp_path: Path) -> None:
    port, web_port = free_port(), free_port()
    run, lines = _devrun(tmp_path, port, web_port)
    try:
        wait_until(lambda: any("in your browser" in line for line in lines), 60, "make run to start")
        assert _answers(web_port), "make run named the browser address before the node served it"
        assert _answers(port)
        run.send_signal(signal.SIGHUP)  # what closing the terminal sends
        assert run.wait(timeout=30) == 0
        assert not _answers(port), "the tracker outlived its make run"
    finally:
        run.kill()
        run.wait()
        subprocess.run(["pkill", "-f", str(tmp_path / "trackers.txt")], check=False)  # a leftover, had it failed


def test_a_tracker_left_running_is_named_and_used_and_left_running(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "trackers.txt").write_text(f"127.0.0.1:{port}\n", encoding="utf-8")
    old = subprocess.Popen([sys.executable, "-m", "tracker_server", "trackers.txt", "1"], cwd=tmp_path,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    try:
        wait_until(lambda: _answers(port), 30, "the old tracker")
        run, lines = _devrun(tmp_path, port)
        try:
            wait_until(lambda: any("in your browser" in line for line in lines), 60, "make run to start")
            assert any("left running by an earlier run perhaps: using that one" in line for line in lines), lines
            run.send_signal(signal.SIGTERM)
            assert run.wait(timeout=30) == 0
        finally:
            run.kill()
            run.wait()
        assert old.poll() is None and _answers(port)  # not ours to stop
    finally:
        old.terminate()
        old.wait(timeout=30)
