"""The background webhook sender: outbox fan-out, claiming, sending, recording, retention purges.

``outdial serve`` and ``outdial worker`` run one ``WebhookSender(db, settings)``; any number may run
against one PostgreSQL database (the cursor row and the deliveries are locked with SKIP LOCKED, so no
two senders take the same work). A sender that dies leaves nothing behind: events not yet fanned out
are still after the cursor, and deliveries it had claimed are taken again when their lease runs out.

Inside, one task does all the database work, one short transaction after another (fan out and claim
a batch, record the results of finished attempts); ``concurrency`` worker tasks take claimed jobs
from a local queue and make the HTTP requests. On SQLite two connections of one process waiting on
each other's write lock cost sleeps, so the database is never touched from two tasks at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, OperationalError

from outdial.config import Settings
from outdial.store.db import Database
from outdial.store.types import utcnow
from outdial.webhooks.config import WebhookSettings
from outdial.webhooks.delivery import Decision, Outcome, decide, record, send
from outdial.webhooks.jobs import Job, claim_due, load_jobs
from outdial.webhooks.models import WebhookDelivery
from outdial.webhooks.outbox import fan_out
from outdial.webhooks.transport import PinnedTransport
from outdial.webhooks.urlsafety import Resolver

log = logging.getLogger("outdial.webhooks")

# Finished attempts are recorded in batches: when this many are waiting, or the oldest has waited
# this long, or nothing else is in flight. Fewer, larger transactions keep the database cheap.
FLUSH_BATCH = 64
NOTIFY_CHANNEL = "outdial_webhooks"
FLUSH_SECONDS = 0.02


class WebhookSender:
    """Delivers webhooks until :meth:`stop`; construct with the process's database and settings."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        webhook_settings: WebhookSettings | None = None,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        purge: bool = True,
    ) -> None:
        self.db = db
        self.settings = settings
        self.ws = webhook_settings or WebhookSettings()
        self.resolver = resolver
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.transport = PinnedTransport(
            ssl_context, max_connections=min(self.ws.concurrency, self.ws.connections_per_origin)
        )
        self._purge = purge
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._busy = 0  # jobs taken by workers and not yet finished
        self._idle = asyncio.Event()  # set whenever _busy drops to zero
        self._results: list[Outcome] = []
        self._oldest_result = 0.0
        self._last_purge = 0.0
        self.sent = 0  # attempts made by this sender (for benchmarks and logs)

    def wake(self) -> None:
        """Look for work now rather than at the next poll (e.g. after a retry request in-process)."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        workers = [
            asyncio.create_task(self._worker(), name=f"webhook-worker-{i}")
            for i in range(self.ws.concurrency)
        ]
        async with self._listening():
            try:
                await self._loop()
            finally:
                await self._shutdown(workers)
                await self.transport.aclose()

    @contextlib.asynccontextmanager
    async def _listening(self) -> AsyncIterator[None]:
        """PostgreSQL: LISTEN for new call events (a trigger NOTIFYs on commit); polling remains."""
        if self.db.is_sqlite:
            yield
            return
        try:
            conn = await self.db.engine.connect()
            raw: Any = (await conn.get_raw_connection()).driver_connection
            await raw.add_listener(NOTIFY_CHANNEL, self._notified)
        except Exception as exc:  # LISTEN is an optimisation: without it the sender still polls
            log.warning("webhook sender cannot LISTEN (%s); polling only", exc)
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await raw.remove_listener(NOTIFY_CHANNEL, self._notified)
            await conn.close()

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    @property
    def _pending(self) -> int:
        return self._queue.qsize() + self._busy

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._flush_due():
                    await self._flush()
                took = await self._refill()
                if self._purge:
                    await self._maybe_purge()
            except (OperationalError, DBAPIError) as exc:
                # Another writer held SQLite's lock past busy_timeout, or the database blinked:
                # nothing was committed, so the next round simply tries again.
                log.warning("webhook sender round failed: %s", exc)
                took = False
            except Exception:
                # A bug must not stop delivery for good: log it, back off, try again.
                log.exception("webhook sender round crashed")
                took = False
                await asyncio.sleep(1.0)
            if took and self._queue.qsize() < self.ws.concurrency:
                continue  # more may be waiting: keep the queue fed
            self._wake.clear()
            wait = FLUSH_SECONDS / 2 if self._results else self.ws.poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _refill(self) -> bool:
        """Fan out new events and claim due deliveries while the local queue runs low."""
        queued = self._queue.qsize()
        if queued >= self.ws.concurrency:
            return False
        # At most two rounds of work queued: a job must start well before its lease runs out.
        room = min(self.ws.batch_size, 2 * self.ws.concurrency - queued)
        lease_ends = time.monotonic() + self.ws.lease_seconds
        fresh = await fan_out(self.db, self.settings, self.ws, owner=self.owner, limit=room)
        jobs = list(fresh.jobs)
        if room - len(jobs) > 0:
            due = await claim_due(self.db, self.ws, owner=self.owner, limit=room - len(jobs))
            jobs += await load_jobs(self.db, self.settings, due)
        for job in jobs:
            job.lease_ends = lease_ends
            self._queue.put_nowait(job)
        return bool(fresh.events or jobs)

    async def _worker(self) -> None:
        while True:
            job = await self._queue.get()
            if job.lease_ends - time.monotonic() < self.ws.timeout_seconds:
                # Too late to finish inside the lease: another round (or sender) takes it over.
                continue
            self._busy += 1
            self._idle.clear()
            try:
                outcome = await self._attempt(job)
                if not self._results:
                    self._oldest_result = time.monotonic()
                self._results.append(outcome)
            except Exception:  # a bug must not kill the worker; the lease brings the job back
                log.exception("webhook attempt crashed")
            finally:
                self._busy -= 1
                if self._busy == 0:
                    self._idle.set()
            if self._queue.qsize() < self.ws.concurrency // 2 or self._flush_due():
                self._wake.set()

    async def _attempt(self, job: Job) -> Outcome:
        if job.canceled:
            return Outcome(job, None, Decision("canceled", error=job.canceled))
        result = await send(
            self.transport,
            job,
            self.ws,
            allow_private=self.settings.allow_private_webhooks,
            resolver=self.resolver,
        )
        self.sent += 1
        return Outcome(job, result, decide(job, result, self.ws, utcnow()))

    def _flush_due(self) -> bool:
        if not self._results:
            return False
        return (
            len(self._results) >= FLUSH_BATCH
            or self._pending == 0
            or time.monotonic() - self._oldest_result >= FLUSH_SECONDS
        )

    async def _flush(self) -> None:
        batch, self._results = self._results, []
        if not batch:
            return
        try:
            await record(self.db, self.ws, batch, owner=self.owner)
        except BaseException:
            self._results = batch + self._results
            raise

    async def _shutdown(self, workers: list[asyncio.Task[None]]) -> None:
        """Finish requests in flight (up to the request timeout), record them, hand back the rest."""
        queued: list[Job] = []
        while not self._queue.empty():
            queued.append(self._queue.get_nowait())
        if self._busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.ws.timeout_seconds)
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        try:
            await self._flush()
            if queued:
                await self._release([j.id for j in queued])
        except (OperationalError, DBAPIError) as exc:
            log.warning("webhook sender stopped without recording everything (leases will expire): %s", exc)

    async def _release(self, ids: list[str]) -> None:
        """Claimed but never sent: back to pending at once rather than after the lease."""
        async with self.db.transaction() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_(ids),
                    WebhookDelivery.lease_owner == self.owner,
                    WebhookDelivery.status == "delivering",
                )
                .values(status="pending", lease_owner=None, lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )

    async def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now - self._last_purge < self.ws.purge_interval_seconds:
            return
        self._last_purge = now
        from outdial.retention.service import purge_expired

        try:
            await purge_expired(self.db, self.settings)
        except (OperationalError, DBAPIError) as exc:
            log.warning("retention purge failed, will retry: %s", exc)
