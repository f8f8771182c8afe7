"""Files that look private: keys, credentials, password stores, the node's own secrets.

Sharing gives every member of the group a copy for good, so sharing one of these asks for a second look: the
browser wants a tick in "share it anyway", the console shares and says so in a warning line. A guess from the
path only (no file is read): it must never refuse, only ask. Pure logic.
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
)


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
