"""Waking dialers: a new due call or a cancel request reaches the worker at once, not at the next poll.

PostgreSQL: ``NOTIFY`` inside the writer's transaction (delivered on commit), ``LISTEN`` through a
dedicated asyncpg connection in each worker. SQLite: API and dialer share one process, so an
in-process hub fired after the commit does the same job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

CHANNEL = "outdial_dialer"
NEW_CALL = "new"
CANCEL_PREFIX = "cancel:"

Subscriber = Callable[[str], None]


class LocalHub:
    """In-process fan-out of dialer messages, one hub per database URL."""

    _hubs: dict[str, LocalHub] = {}

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    @classmethod
    def for_url(cls, url: str | URL) -> LocalHub:
        key = _key(url)
        hub = cls._hubs.get(key)
        if hub is None:
            hub = cls._hubs[key] = cls()
        return hub

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subscribers.append(fn)
        return lambda: self._subscribers.remove(fn) if fn in self._subscribers else None

    def publish(self, payload: str) -> None:
        for fn in list(self._subscribers):
            try:
                fn(payload)
            except Exception:  # a subscriber's bug must not break the writer's commit
                log.exception("dialer notification subscriber failed")


def _key(url: str | URL) -> str:
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


async def _send(session: AsyncSession, payload: str) -> None:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
        )
        return
    hub = LocalHub.for_url(bind.engine.url)

    def fire(_session: Any) -> None:
        hub.publish(payload)

    event.listen(session.sync_session, "after_commit", fire, once=True)


async def notify_new_call(session: AsyncSession) -> None:
    """Wake the dialers when this transaction commits (call it in the transaction that inserts a call)."""
    await _send(session, NEW_CALL)


async def notify_cancel(session: AsyncSession, call_id: str) -> None:
    """Tell the worker that owns ``call_id`` to end it, when this transaction commits."""
    await _send(session, CANCEL_PREFIX + call_id)


class Listener:
    """Receives dialer messages for one worker: LISTEN on PostgreSQL, the local hub on SQLite."""

    def __init__(self, url: str | URL, on_message: Subscriber) -> None:
        self._url = make_url(url) if isinstance(url, str) else url
        self._on_message = on_message
        self._conn: Any = None
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self.connected = asyncio.Event()

    @property
    def is_postgres(self) -> bool:
        return self._url.get_backend_name() == "postgresql"

    async def start(self) -> None:
        if not self.is_postgres:
            self._unsubscribe = LocalHub.for_url(self._url).subscribe(self._on_message)
            self.connected.set()
            return
        self._task = asyncio.create_task(self._keep_listening(), name="dialer-listen")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout=5)

    async def _keep_listening(self) -> None:
        import asyncpg

        dsn = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stopped.is_set():
            try:
                self._conn = await asyncpg.connect(dsn, timeout=5)
                await self._conn.add_listener(CHANNEL, self._deliver)
                self.connected.set()
                # A listener only hears what is sent while it listens: tell the worker to poll once.
                self._on_message(NEW_CALL)
                while not self._stopped.is_set() and not self._conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopped.wait(), timeout=2)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                log.warning("dialer LISTEN connection lost (%s); reconnecting", exc)
            finally:
                self.connected.clear()
                if self._conn is not None and not self._conn.is_closed():
                    with contextlib.suppress(Exception):
                        await self._conn.close()
                self._conn = None
            if not self._stopped.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), timeout=1)

    def _deliver(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_message(payload)

    async def stop(self) -> None:
        self._stopped.set()
        if self._unsubscribe:
            self._unsubscribe()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
