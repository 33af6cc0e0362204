"""Telling other replicas about appends and summary writes: PostgreSQL LISTEN/NOTIFY.

The announcement is sent inside the writing transaction, so PostgreSQL delivers it on commit
and never for a write that rolled back. Each replica listens on one dedicated connection in a
background thread and hands what it hears to the event loop. SQLite has no such channel: there
one process owns the file, and followers still poll on every heartbeat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from sqlalchemy.engine import make_url

from agentledger.core.db import Driver

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Announcement:
    task_id: str
    kind: str  # "events" (number = last_seq) or "summary" (number = version)
    number: int
    state: str = ""


class PgAnnouncer:
    """Sends and receives announcements on one NOTIFY channel."""

    def __init__(self, url: str, channel: str) -> None:
        self._conninfo = (
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._channel = channel
        self._origin = uuid.uuid4().hex[:12]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    # -- sending, inside a write transaction

    def on_append(self, db: Driver, task_id: str, last_seq: int) -> None:
        self._send(db, Announcement(task_id, "events", last_seq))

    def on_summary(self, db: Driver, task_id: str, version: int, state: str) -> None:
        self._send(db, Announcement(task_id, "summary", version, state))

    def _send(self, db: Driver, a: Announcement) -> None:
        payload = json.dumps([self._origin, a.task_id, a.kind, a.number, a.state])
        db.execute("SELECT pg_notify(?, ?)", (self._channel, payload))

    # -- receiving, in a background thread

    def start(
        self, loop: asyncio.AbstractEventLoop, handle: Callable[[Announcement], None]
    ) -> None:
        self._thread = threading.Thread(
            target=self._listen, args=(loop, handle), name="trace-store-listen", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listen(
        self, loop: asyncio.AbstractEventLoop, handle: Callable[[Announcement], None]
    ) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(
                        psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(self._channel))
                    )
                    self.ready.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            a = self._parse(note.payload)
                            if a is not None:
                                loop.call_soon_threadsafe(handle, a)
            except psycopg.Error as exc:
                # The replica keeps serving; followers fall back to heartbeat polling meanwhile.
                log.warning("listen connection lost (%s); reconnecting", exc)
                self._stop.wait(1.0)

    def _parse(self, payload: str) -> Announcement | None:
        try:
            origin, task_id, kind, number, state = json.loads(payload)
        except (ValueError, TypeError):
            log.warning("ignoring a malformed announcement %r", payload[:200])
            return None
        if origin == self._origin:
            return None  # our own write: already published locally
        return Announcement(str(task_id), str(kind), int(number), str(state))
