"""The typed application keys shared by the tracker's modules (no globals: objects live on the app)."""

from __future__ import annotations

from aiohttp import web

from tracker_server.compaction import Compactor
from tracker_server.held_bodies import HeldBodies
from tracker_server.log import LogWriter
from tracker_server.replication import Replicator
from tracker_server.service import TrackerService
from tracker_server.store import Store
from tracker_server.store_health import StoreHealth

STORE = web.AppKey("store", Store)
WRITER = web.AppKey("writer", LogWriter)
SERVICE = web.AppKey("service", TrackerService)
REPLICATOR = web.AppKey("replicator", Replicator)
STORE_HEALTH = web.AppKey("store_health", StoreHealth)
COMPACTOR = web.AppKey("compactor", Compactor)
HELD_BODIES = web.AppKey("held_bodies", HeldBodies)
