"""Files that look private: keys, credentials, password stores, the node's own secrets.

Sharing gives every member of the group a copy for good, so sharing one of these asks for a second look: the
browser wants a tick in "share it anyway", the console shares and says so in a warning line. A guess from the
path only (no file is read): it must never refuse, only ask. Pure logic.

One exception is refused outright (``own_data_refusal``): a file of the node's own data directory, other than
a browser upload's copy. Those are not the user's files but the node's: its TLS key, the login's tracker
session (enough for a member to act as the user), the API key. No user means to give them away.
"""

from __future__ import annotations

import fnmatch
from pathlib import PurePath

# Folders whose every file is somebody's secret.
_PRIVATE_DIRS = {".ssh": "an SSH folder", ".gnupg": "a GnuPG folder", ".aws": "an AWS credentials folder",
                 ".kube": "a Kubernetes credentials folder", ".docker": "a Docker credentials folder",
                 ".password-store": "a password store", ".azure": "an Azure credentials folder",
                 ".gcloud": "a Google Cloud credentials folder"}
# File names (shell patterns, lower case) and what they usually hold.
_PRIVATE_NAMES = (
    ("id_rsa", "an SSH private key"), ("id_dsa", "an SSH private key"), ("id_ecdsa", "an SSH private key"),
    ("id_ed25519", "an SSH private key"), ("id_*_sk", "an SSH private key"),
    ("*.pem", "a private key or certificate"), ("*.key", "a private key (unless it is a Keynote file)"),
    ("*.p12", "a key store"),
    ("*.pfx", "a key store"), ("*.jks", "a key store"), ("*.kdbx", "a password database"),
    (".env", "secrets of an app's environment"), (".env.*", "secrets of an app's environment"),
    (".netrc", "saved passwords"), (".pgpass", "saved database passwords"), (".git-credentials", "saved passwords"),
    ("credentials", "credentials"), ("credentials.json", "credentials"), ("shadow", "the system's password hashes"),
    ("cluster.secret", "the trackers' shared secret"),
    ("tracker.sqlite3*", "a tracker's database (password hashes and sessions)"),
)


def own_data_refusal(real_path: str, real_data_dir: str, is_upload_copy: bool) -> str | None:
    """Why sharing ``real_path`` is refused (it is the node's own data), else None. Both paths are resolved
    (``os.path.realpath``): a link to the node's key is the node's key."""
    pure, data = PurePath(real_path), PurePath(real_data_dir)
    if is_upload_copy or (pure != data and data not in pure.parents):
        return None
    return (f"refusing to share {real_path}: it is part of this node's own data ({real_data_dir}), which holds "
            f"its keys and your login; every member of the group would get them")


def why_private(path: str, node_data_dir: str | None = None) -> str | None:
    """What the file at ``path`` looks like if it looks private ("an SSH private key"), else None."""
    pure = PurePath(path)
    if node_data_dir is not None and (pure == PurePath(node_data_dir) or PurePath(node_data_dir) in pure.parents):
        return "part of this node's own data (its keys and login)"
    name = pure.name.lower()
    if name.endswith(".pub"):
        return None  # a public key is meant to be given away
    for part in pure.parts[:-1]:
        if part in _PRIVATE_DIRS:
            return f"in {_PRIVATE_DIRS[part]}"
    for pattern, what in _PRIVATE_NAMES:
        if fnmatch.fnmatchcase(name, pattern):
            return what
    return None
