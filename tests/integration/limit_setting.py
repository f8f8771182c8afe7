"""What the upload and download limits share between real nodes: the command that sets one, its refusals, and the
setting kept across restarts, a flag given at start taking over."""

from __future__ import annotations

from tests.support.cluster import FAST_NODE_ARGS, Node

NOT_A_RATE = "error: not a rate: 'fast' (examples: 125M, 500kB/s, 100MiB, 0 for no limit)\n"


def assert_the_limit_setting_outlives_restarts(node: Node, which: str, removed: str, flag: str, flagged: int) -> None:
    """``set_<which>_limit`` at ``node`` (started with ``FAST_NODE_ARGS`` and maybe a limit flag): said, shown in
    /api/status, a bad rate refused with nothing changed; the last setting holds across a restart without the flag,
    0 removes it (said with ``removed``), and a flag given at start (``flag``, the rate ``flagged``) is the setting
    from then on, also after a restart without it. Leaves the node running without the flag."""

    def shown() -> object:
        return node.api("/api/status")[f"{which}_limit"]

    def restart(*flags: str) -> None:
        node.kill()
        node.args = (*FAST_NODE_ARGS, *flags)
        node.start()

    assert node.ok(f"set_{which}_limit 125M") == f"{which} limit set to 125 MB/s\n"
    assert shown() == 125_000_000
    assert node.cmd(f"set_{which}_limit fast") == (400, NOT_A_RATE)
    assert node.cmd(f"set_{which}_limit 10")[0] == 400  # a bare 10 would be 10 bytes a second
    assert node.cmd(f"set_{which}_limit")[1] == f"error: usage: set_{which}_limit <rate>\n"
    assert shown() == 125_000_000  # a refused command changes nothing

    restart()  # no flag: the last limit set holds
    assert shown() == 125_000_000
    assert node.ok(f"set_{which}_limit 0") == removed
    assert shown() is None
    restart(f"--{which}-limit", flag)  # a flag given at start is the setting from then on
    assert shown() == flagged
    restart()
    assert shown() == flagged
