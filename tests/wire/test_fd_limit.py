"""``wire.fd_limit``: the soft open-file limit goes up to the hard one at start."""

from __future__ import annotations

import subprocess
import sys

from tests.support.cluster import ROOT


def test_the_soft_open_file_limit_is_raised_to_the_hard_one() -> None:
    script = (
        "import resource\n"
        "from wire.fd_limit import raise_open_file_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
        "got = raise_open_file_limit()\n"
        "print(got == resource.getrlimit(resource.RLIMIT_NOFILE)[0], got == hard or hard == resource.RLIM_INFINITY)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.stdout.split() == ["True", "True"], run.stderr
