"""Which paths look private enough to ask before sharing (a guess from the path, never a refusal)."""

from __future__ import annotations

import pytest

from peer_node.sensitive import own_data_refusal, why_private


@pytest.mark.parametrize(("path", "why"), [
    ("/home/u/.ssh/id_rsa", "in an SSH folder"),
    ("/home/u/.ssh/config", "in an SSH folder"),
    ("/home/u/backup/id_ed25519", "an SSH private key"),
    ("/srv/app/.env", "secrets of an app's environment"),
    ("/srv/app/.env.production", "secrets of an app's environment"),
    ("/etc/ssl/private/SERVER.PEM", "a private key or certificate"),
    ("/home/u/.aws/credentials", "in an AWS credentials folder"),
    ("/home/u/Passwords.kdbx", "a password database"),
    ("/var/node/peer-key.pem", "part of this node's own data (its keys and login)"),
    ("/var/node/api-key", "part of this node's own data (its keys and login)"),
    ("/srv/lab/cluster.secret", "the trackers' shared secret"),
    ("/srv/lab/tracker_data/tracker.sqlite3-wal", "a tracker's database (password hashes and sessions)"),
])
def test_keys_credentials_and_the_node_s_own_data_look_private(path: str, why: str) -> None:
    assert why_private(path, "/var/node") == why


@pytest.mark.parametrize("path", ["/home/u/lecture.mp4", "/home/u/.ssh.txt", "/home/u/.ssh/id_ed25519.pub",
                                  "/home/u/environment.md", "/home/u/report.pdf", "/var/node-other/data.bin"])
def test_ordinary_files_and_public_keys_do_not(path: str) -> None:
    assert why_private(path, "/var/node") is None


def test_the_node_s_own_data_is_refused_but_not_a_browser_upload_s_copy_nor_a_neighbour() -> None:
    refusal = own_data_refusal("/var/node/session.json", "/var/node", is_upload_copy=False)
    assert refusal is not None and refusal.startswith("refusing to share /var/node/session.json: it is part of")
    assert own_data_refusal("/var/node", "/var/node", is_upload_copy=False) is not None
    assert own_data_refusal("/var/node/uploads/ab12/talk.pdf", "/var/node", is_upload_copy=True) is None
    assert own_data_refusal("/var/node-other/session.json", "/var/node", is_upload_copy=False) is None
