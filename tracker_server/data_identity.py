"""Whose data dir is this? A tracker records its number and its cluster in the data dir it uses, and says so when
it starts on a data dir recorded for another number or another cluster.

Why a warning and not a refusal: every tracker of one cluster holds the same replicated state, so a data dir that
moves from tracker 2 to tracker 1 (a machine replaced, a list reordered) loses nothing. A data dir of another
cluster (another ``cluster.secret``) is different: its log may be the longest and win an election, and its state
would then replace this cluster's on every other tracker. The operator must hear that at start, in words naming
both clusters' traits, before anything is replicated; rotating the secret on purpose is the one legitimate cause.

The cluster is recorded as a fingerprint (an HKDF output of the secret with its own ``info``), never the secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"groupshare data dir cluster fingerprint v1"
TRACKER_NO_KEY = "tracker_no"
CLUSTER_KEY = "cluster"


def cluster_fingerprint(secret: bytes) -> str:
    """16 hex digits naming the cluster's secret; they reveal nothing usable about it."""
    return HKDF(algorithm=hashes.SHA256(), length=8, salt=None, info=_INFO).derive(secret).hex()


@dataclass(frozen=True)
class Identity:
    tracker_no: int
    cluster: str


def identity_warnings(recorded: Identity | None, current: Identity, data_dir: str, log_index: int) -> list[str]:
    """What to tell the operator when ``current`` starts on a data dir ``recorded`` for (None: nothing recorded,
    a fresh dir or one from before identities were kept). ``log_index`` says whether the dir holds state at all."""
    if recorded is None or log_index == 0:
        return []
    warnings: list[str] = []
    if recorded.cluster != current.cluster:
        warnings.append(
            f"data dir {data_dir} holds the state of another cluster (cluster secret {recorded.cluster}, this "
            f"tracker's is {current.cluster}; log index {log_index}). If that is not a deliberate change of the "
            f"secret, stop this tracker and give it its own --data-dir: an election could otherwise copy that "
            f"state to every tracker")
    if recorded.tracker_no != current.tracker_no:
        warnings.append(
            f"data dir {data_dir} was tracker {recorded.tracker_no}'s and is now tracker {current.tracker_no}'s: "
            f"nothing is lost within one cluster, but tracker {recorded.tracker_no} needs a data dir of its own")
    return warnings


def describe_start(log_index: int, tracker_no: int = 1, trackers: int = 1) -> str:
    """The start line's word about the state found in the data dir."""
    if log_index > 0:
        return f"log index {log_index}"
    if trackers == 1:
        return "empty: a new cluster starts here"
    if tracker_no == 1:
        return "empty: a new cluster starts here, or the state is copied from the primary if one runs"
    return "empty: the state will be copied from the primary, if there is one"
