"""``make run`` (peer_node.devrun): a local tracker that cannot start stops it with a word, instead of a node
running against whatever holds the port; a port another tracker already answers on is used as it is."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from bench.ports import free_port
from peer_node.devrun import tracker_problems
from tests.support.cluster import ROOT
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
        assert said == ["tracker 1 did not start (its port 7001 is taken), but a tracker answers there: using "
                        "that one"]
        said = tracker_problems([(one, exited())], lambda t: False)
        assert said == ["tracker 1 (127.0.0.1:7001) cannot start (see its message above); stopping"]
    finally:
        running.kill()
        running.wait()


def test_make_run_stops_when_its_tracker_cannot_start(tmp_path: Path) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    try:
        port = squatter.getsockname()[1]
        (tmp_path / "trackers.txt").write_text(f"127.0.0.1:{port}\n", encoding="utf-8")
        run = subprocess.run([sys.executable, "-m", "peer_node.devrun", "trackers.txt", f"127.0.0.1:{free_port()}",
                              "--web-port", str(free_port())], cwd=tmp_path, capture_output=True, text=True,
                             timeout=60, stdin=subprocess.DEVNULL, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    finally:
        squatter.close()
    assert run.returncode == 1, run.stderr
    assert f"make run: tracker 1 (127.0.0.1:{port}) cannot start (see its message above); stopping" in run.stderr
    assert "GroupShare node" not in run.stdout  # no node was started against the squatter
