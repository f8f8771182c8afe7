"""A secondary's doors for a snapshot: whole in one message (``/internal/v1/snapshot``), or in parts
(``/internal/v1/snapshot_part``, ``snapshot_read.py`` says why), stored aside and installed with the last
(``snapshot_stage.py``).

Parts are taken in order, one transfer at a time: part 0 starts a transfer (sender, epoch, transfer id) and drops
whatever an earlier one left; any other part must be the next of the transfer under way, else it is refused (ok:
false) and the primary starts again. The tables, and the state in memory, stay the old ones until the last part is
in: then the tables are replaced in one transaction and the state rebuilt from them (in a worker thread) and
swapped in at once; the old one is then freed in steps, in a worker thread too (``state_rows.release``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from aiohttp import web

from tracker_server import internal
from tracker_server.replication import Replicator
from tracker_server.snapshot_stage import Incoming
from tracker_server.state_rows import release

routes = web.RouteTableDef()


@routes.post("/internal/v1/snapshot")
@internal.internal_route
async def snapshot(request: web.Request) -> web.Response:
    rep, body = await internal.read_signed(request)
    async with rep.follow_lock:
        if not await internal.leader_message(rep, body):
            return internal.position_answer(rep, False)
        if rep.incoming is not None:  # a transfer in parts under way is over: this one replaces it
            rep.incoming = None
            await _forget_parts(rep)
        await rep.writer.drained()
        try:
            await rep.store.install(body["snapshot"], rep.svc.state.epoch)
        except (sqlite3.Error, OSError) as exc:  # rolled back: memory and disk still hold the old state
            raise internal.cannot_store(request, "a snapshot", exc) from None
        return await _installed(request, rep, body["_sender"])


@routes.post("/internal/v1/snapshot_part")
@internal.internal_route
async def snapshot_part(request: web.Request) -> web.Response:
    rep, body = await internal.read_signed(request)
    async with rep.follow_lock:
        if not await internal.leader_message(rep, body):
            return internal.position_answer(rep, False)
        part, last, rows = int(body["part"]), body.get("last") is True, body["snapshot"]
        if not isinstance(rows, dict):
            raise ValueError("a snapshot's part must be an object")
        this = Incoming(body["_sender"], int(body["epoch"]), str(body["transfer"]), part)
        if part != 0 and rep.incoming != this:  # not the next part of the transfer under way: it is over
            if rep.incoming is not None:
                rep.incoming = None
                await _forget_parts(rep)
            return internal.position_answer(rep, False)  # and the primary starts again
        rep.incoming = None  # until this part is stored: a failure below ends the transfer
        try:
            if part == 0:
                await rep.store.stage_begin()
            await rep.store.stage(rows)
            if not last:
                this.next_part = part + 1
                rep.incoming = this
                return internal.position_answer(rep, True)
            await rep.writer.drained()
            await rep.store.install_staged(rep.svc.state.epoch)
        except (sqlite3.Error, OSError) as exc:  # the tables are untouched (an install is rolled back)
            await _forget_parts(rep)
            raise internal.cannot_store(request, "a snapshot", exc) from None
        except BaseException:
            await _forget_parts(rep)
            raise
        return await _installed(request, rep, body["_sender"])


async def _forget_parts(rep: Replicator) -> None:
    with contextlib.suppress(sqlite3.Error, OSError):  # if it fails, the next transfer's first part tries again
        await rep.store.stage_drop()  # their disk space back (a full disk may be why they failed)


async def _installed(request: web.Request, rep: Replicator, sender: int) -> web.Response:
    """The tables replaced: the state in memory rebuilt from them (off the event loop) and swapped in at once."""
    internal.stored_again(request)
    state = await rep.store.load_state()  # read and built in a worker thread
    old = rep.svc.state
    rep.svc.replace_state(state)
    rep.writer.durable = (state.index, state.last_epoch)
    internal.log_progress(rep.catch_up_log.snapshot(sender, state.index, len(state.users), len(state.groups)))
    await asyncio.to_thread(release, old)  # freed in steps there, not in one call here
    return internal.position_answer(rep, True)
