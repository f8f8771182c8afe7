"""The console prompt on a real terminal (a pty): same commands as /cmd, a progress bar, EOF does not stop the node,
SIGTERM stops it cleanly, promptly even during a browser upload."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bench.ports import free_port
from tests.support.cluster import ROOT, Cluster, Node, http_request, make_file, wait_until
from tests.support.terminal import Terminal


def test_prompt_runs_commands_shows_a_progress_bar_and_survives_eof(tmp_path: Path) -> None:
    with Cluster(tmp_path, trackers=1) as c:
        c.start_tracker(1)
        web = free_port()
        term = Terminal([str(ROOT / "client"), f"127.0.0.1:{free_port()}", str(c.list_path), "--web-port", str(web),
                         "--data-dir", str(tmp_path / "node"), "--piece-size", "65536"], tmp_path)
        try:
            term.expect(b"groupshare> ")
            term.type("help")
            out = term.expect(b"groupshare> ")
            assert b"download_file <group_id> <file_name> <destination_path>" in out
            assert re.search(rb"\nquit \(or exit\) +stop this node", out)
            # aligned with the other rows of the list
            assert out.index(b"stop this node") - out.rindex(b"\n", 0, out.index(b"stop this node")) == \
                out.index(b"download a file") - out.rindex(b"\n", 0, out.index(b"download a file"))
            term.type("quit now")
            assert b"usage: quit (or exit), with nothing after it" in term.expect(b"groupshare> ")
            term.type("create_user carol carol-pw-1234")
            term.expect(b"groupshare> ")
            term.type("login carol carol-pw-1234")
            assert b"logged in as carol" in term.expect(b"groupshare> ")
            term.type("create_group g1")
            term.expect(b"groupshare> ")
            make_file(tmp_path / "big.bin", 3 * 1024 * 1024, seed=9)
            term.type("upload_file big.bin g1")  # relative to the node's working directory
            out = term.expect(b"groupshare> ")
            assert b"] 100%" in out and b"shared big.bin in g1" in out
            term.type("list_groups 'unclosed")
            assert b"error: cannot split" in term.expect(b"groupshare> ")
            os.write(term.master, b"\xff\xfe\n")  # not UTF-8: said as /cmd says it, not as escapes
            assert b"error: the command is not UTF-8 text" in term.expect(b"groupshare> ")
            os.write(term.master, b"\x04")  # end of input (Ctrl-D)
            term.expect(b"the node keeps running: stop it with Ctrl-C or SIGTERM")
            time.sleep(0.5)
            assert term.proc.poll() is None
            assert http_request(web, "GET", "/healthz", headers={"Host": f"127.0.0.1:{web}"})[0] == 200
            os.killpg(term.proc.pid, signal.SIGTERM)
            wait_until(lambda: term.proc.poll() is not None, 15, "the node to stop on SIGTERM")
            assert term.proc.returncode == 0
        finally:
            term.close()


def test_a_node_and_a_tracker_whose_terminal_closes_stop_cleanly(tmp_path: Path) -> None:
    with Cluster(tmp_path, trackers=1) as c:
        tracker = c.start_tracker(1)
        node = c.start_node("alice")
        assert node.proc is not None
        assert node.proc.stop(signal.SIGHUP) == 0  # as for SIGTERM: a clean stop, not killed on the spot
        assert tracker.stop(signal.SIGHUP) == 0


def test_a_node_stops_promptly_during_a_browser_upload_and_keeps_no_half_file(tmp_path: Path) -> None:
    """A browser upload still sending its body when the node is told to stop: the stop waits a few seconds for it,
    not aiohttp's default minute (the code before waited 60 s), and the half-received copy is not kept."""
    with Cluster(tmp_path, trackers=1) as c:
        c.start_tracker(1)
        node = c.start_node("alice")
        node.login()
        node.ok("create_group lab")
        assert node.proc is not None
        sending = threading.Event()
        ended: list[str] = []
        uploader = threading.Thread(target=asyncio.run, args=(_trickle_upload(node, "lab", sending, ended),),
                                    daemon=True)
        uploader.start()
        try:
            assert sending.wait(30), "the upload did not start"
            wait_until(lambda: _uploads(node), 10, "the upload's copy to begin")
            node.proc.popen.send_signal(signal.SIGTERM)
            # Bounded well below aiohttp's default 60 s wait for requests still running, far above the 3 s we allow.
            wait_until(lambda: node.proc is not None and not node.proc.alive(), 30, "the node to stop")
            assert node.proc.popen.returncode == 0
            assert not _uploads(node)  # the half file went with its request
        finally:
            uploader.join(10)
        assert ended and ended[0] != "answered"  # the upload was cut off, not completed


def _uploads(node: Node) -> list[Path]:
    """What the node holds of browser uploads in progress (a folder per upload, made when one begins)."""
    folder = node.data_dir / "uploads"
    return list(folder.rglob("*")) if folder.is_dir() else []


async def _trickle_upload(node: Node, gid: str, sending: threading.Event, ended: list[str]) -> None:
    """Log in with the browser's form, then upload a 400 MiB file whose body comes slowly, as over a slow uplink."""
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    async with aiohttp.ClientSession(f"http://127.0.0.1:{node.web_port}",
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        token = csrf.search(await (await s.get("/login")).text())
        assert token is not None
        form = {"csrf_token": token.group(1), "user_id": node.name, "password": node.password, "next": "/"}
        await s.post("/login", data=form)
        token = csrf.search(await (await s.get(f"/groups/{gid}")).text())
        assert token is not None, "not logged in: no group page"

        async def body() -> AsyncIterator[bytes]:
            sending.set()
            for _ in range(400 * 16):
                yield b"x" * 65536
                await asyncio.sleep(0.01)

        writer = aiohttp.MultipartWriter("form-data")
        writer.append(token.group(1)).set_content_disposition("form-data", name="csrf_token")
        writer.append(body(), {"Content-Type": "application/octet-stream"}).set_content_disposition(
            "form-data", name="file", filename="big.bin")
        try:
            await s.post(f"/groups/{gid}/upload", data=writer, headers={"X-Upload-Progress": "1"})
            ended.append("answered")
        except aiohttp.ClientError as exc:
            ended.append(type(exc).__name__)


def test_news_comes_on_lines_of_its_own_with_a_fresh_prompt_after(tmp_path: Path) -> None:
    """A make-run note before the first prompt; then, without a command typed, an owner's answer to the request to
    join, a download done and a warning each come as a line of their own: where the waiting prompt was (erased),
    a fresh prompt after it."""
    with Cluster(tmp_path, trackers=2) as c:
        c.start_tracker(1)
        c.start_tracker(2)
        alice = c.start_node("alice")
        alice.login()
        alice.ok("create_group lab")
        src = make_file(tmp_path / "share" / "notes.bin", 2 * 1024 * 1024, seed=4)
        alice.ok(f"upload_file {src} lab")
        term = Terminal([str(ROOT / "client"), f"127.0.0.1:{free_port()}", str(c.list_path), "--web-port",
                         str(free_port()), "--data-dir", str(tmp_path / "bob"), "--ready-note", "READY: open the UI"],
                        tmp_path, stderr_too=True, env={"TERM": "xterm"})  # warnings go to the terminal: as news
        try:
            assert b"READY: open the UI" in term.expect(b"groupshare> ")  # said before the prompt, not after
            for line in ("create_user bob bob-pw-1234", "login bob bob-pw-1234", "join_group lab"):
                term.type(line)
                term.expect(b"groupshare> ")
            alice.ok("accept_request lab bob")
            assert_news_on_the_prompts_line(term.expect(b"You are in lab: your request to join was accepted.\r\n"))
            assert term.expect(b"groupshare> ") == b"groupshare> "  # a fresh prompt, at once
            term.type(f"download_file lab notes.bin {tmp_path / 'notes.bin'}")
            term.expect(b"groupshare> ")
            assert_news_on_the_prompts_line(term.expect(b"[C] lab notes.bin: download complete, saved as " +
                                                        str(tmp_path / "notes.bin").encode() + b"\r\n"))
            assert term.expect(b"groupshare> ") == b"groupshare> "
            c.trackers[1].stop(signal.SIGKILL)  # the node warns that it uses the other tracker now, as news too
            term.type("list_groups")
            warning = term.expect(b"groupshare> ")
            assert b"WARNING: now using tracker" in warning, warning
        finally:
            term.close()


def assert_news_on_the_prompts_line(shown: bytes) -> None:
    """Right after the waiting prompt, the news line where it was: its line erased first (by readline)."""
    assert re.fullmatch(rb"\r\x1b\[K\r?[^\r\n]+\r\n", shown), shown
