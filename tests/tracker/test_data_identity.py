"""What a tracker says when its data dir was another tracker's or another cluster's."""

from __future__ import annotations

from tracker_server.data_identity import Identity, cluster_fingerprint, describe_start, identity_warnings

ONE = cluster_fingerprint(b"secret one")
TWO = cluster_fingerprint(b"secret two")


def test_the_fingerprint_names_a_secret_without_showing_it() -> None:
    assert cluster_fingerprint(b"secret one") == ONE and ONE != TWO
    assert len(ONE) == 16 and "secret" not in ONE


def test_a_fresh_or_empty_or_unchanged_data_dir_says_nothing() -> None:
    assert identity_warnings(None, Identity(1, ONE), "d", 40) == []
    assert identity_warnings(Identity(2, TWO), Identity(1, ONE), "d", 0) == []  # nothing in it to lose or spread
    assert identity_warnings(Identity(1, ONE), Identity(1, ONE), "d", 40) == []


def test_another_number_and_another_cluster_are_each_named() -> None:
    (number,) = identity_warnings(Identity(2, ONE), Identity(1, ONE), "d", 40)
    assert number.startswith("data dir d was tracker 2's and is now tracker 1's")
    cluster, number = identity_warnings(Identity(2, TWO), Identity(1, ONE), "d", 40)
    assert f"another cluster (cluster secret {TWO}, this tracker's is {ONE}; log index 40)" in cluster
    assert "was tracker 2's" in number


def test_the_start_line_says_whether_the_data_dir_holds_state() -> None:
    assert describe_start(0, 1, 1) == "empty: a new cluster starts here"
    assert describe_start(0, 1, 2).startswith("empty: a new cluster starts here, or the state is copied")
    assert describe_start(0, 2, 2) == "empty: the state will be copied from the primary, if there is one"
    assert describe_start(12, 2, 2) == "log index 12"
