"""Sharing a file that looks private (a key, credentials) from the console: it is shared, as asked, with a
warning line that says how to undo it (the browser asks first: tests/browser/test_actions.py). The node's own
data (its keys, the login's session) is refused outright, through a link too."""

from __future__ import annotations

from tests.support.cluster import Cluster


def test_sharing_a_private_looking_file_from_the_console_works_and_warns(cluster: Cluster) -> None:
    alice = cluster.start_node("alice")
    alice.login()
    alice.ok("create_group g1")
    key = cluster.tmp / "home" / ".ssh" / "id_rsa"
    key.parent.mkdir(parents=True)
    key.write_text("not a real key\n", encoding="utf-8")
    out = alice.ok(f"upload_file {key} g1").splitlines()
    assert len(out) == 2 and out[0].startswith("shared id_rsa in g1: 15 bytes, sha256 ")
    assert out[1] == ("warning: id_rsa looks private (in an SSH folder): every member of g1 can now fetch it; "
                      "stop_share g1 id_rsa to stop")
    plain = cluster.tmp / "notes.txt"
    plain.write_text("hello\n", encoding="utf-8")
    assert "warning" not in alice.ok(f"upload_file {plain} g1")


def test_the_node_s_own_keys_and_login_are_never_shared_even_through_a_link(cluster: Cluster) -> None:
    alice = cluster.start_node("alice")
    alice.login()
    alice.ok("create_group g1")
    link = cluster.tmp / "innocent.txt"
    link.symlink_to(alice.data_dir / "session.json")
    for path in (alice.data_dir / "session.json", alice.data_dir / "api-key", link):
        status, out = alice.cmd(f"upload_file {path} g1")
        real = (alice.data_dir / ("session.json" if path == link else path.name)).resolve()
        assert status == 400 and out == (f"error: refusing to share {real}: it is part of this node's own data "
                                         f"({alice.data_dir.resolve()}), which holds its keys and your login; every "
                                         f"member of the group would get them\n")
    assert alice.ok("list_files g1") == ""  # nothing shared
