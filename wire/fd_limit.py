"""Raising the process's open-file limit to what the system allows, at start.

A node keeps one descriptor per file it serves (two for a file it downloaded: see ``swarm/direct_io``), plus
one per connection; a tracker one per connection. Linux starts most processes with a soft limit of 1,024 under
a hard limit hundreds of times higher, so a node seeding a few hundred files would run out for no reason. Go's
runtime and libtorrent-based clients raise the soft limit the same way.
"""

from __future__ import annotations

import resource


def raise_open_file_limit() -> int:
    """Set the soft RLIMIT_NOFILE to the hard one (where the system refuses, leave it); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # infinity, or above the kernel's nr_open: keep what we have
            return soft
        return hard
    return soft
