"""The ./client and ./tracker wrappers on a fresh clone: the first one started builds the project's .venv, and any
started meanwhile wait for that build instead of building it again at once or running a half-made one.

The build is a stand-in (a Makefile whose venv target writes an interpreter, then takes a second to "install"):
the real one needs the package index. Its interpreter refuses to run before the build's marker exists, as the real
one fails with ModuleNotFoundError until pip is done."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FAKE_MAKEFILE = """\
venv: .venv/.runtime

.venv/.runtime:
\tmkdir -p .venv/bin
\tprintf '#!/bin/sh\\ntest -e "$$(dirname "$$0")/../.runtime" || { echo half-made >&2; exit 1; }\\necho "ran $$*"\\n' \
> .venv/bin/python
\tchmod +x .venv/bin/python
\techo built >> builds.log
\tsleep 1
\ttouch .venv/.runtime
"""


def test_programs_started_together_on_a_fresh_clone_build_the_venv_once_and_all_run(tmp_path: Path) -> None:
    for wrapper in ("client", "tracker"):
        shutil.copy2(ROOT / wrapper, tmp_path / wrapper)
    (tmp_path / "Makefile").write_text(FAKE_MAKEFILE, encoding="utf-8")
    runs = [subprocess.Popen([str(tmp_path / wrapper), "arg", str(i)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for i, wrapper in enumerate(("tracker", "client", "client", "tracker"))]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], outputs
    modules = ["tracker_server", "peer_node", "peer_node", "tracker_server"]
    assert [out for out, _ in outputs] == [f"ran -m {m} arg {i}\n" for i, m in enumerate(modules)]
    assert (tmp_path / "builds.log").read_text(encoding="utf-8") == "built\n"  # one build, not one each
