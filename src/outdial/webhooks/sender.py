"""The background webhook sender: outbox fan-out, claiming, sending, recording, retention purges.

``outdial serve`` and ``outdial worker`` run one ``WebhookSender(db, settings)``; any number may run
against one PostgreSQL database (the cursor row and the deliveries are locked with SKIP LOCKED, so no
two senders take the same work). A sender that dies leaves nothing behind: events not yet fanned out
are still after the cursor, and deliveries it had claimed are taken again when their lease runs out.
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

import httpx
from sqlalchemy.exc import DBAPIError, OperationalError

from outdial.config import Settings
from outdial.store.db import Database
from outdial.store.types import utcnow
from outdial.webhooks.config import WebhookSettings
from outdial.webhooks.delivery import (
    Decision,
    Job,
    Outcome,
    claim_due,
    decide,
    load_jobs,
    record,
    send,
)
from outdial.webhooks.outbox import fan_out
from outdial.webhooks.transport import PinnedTransport
from outdial.webhooks.urlsafety import Resolver

log = logging.getLogger("outdial.webhooks")


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
        self.transport = PinnedTransport(ssl_context, max_connections=max(self.ws.concurrency, 10))
        self._purge = purge
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._results: list[Outcome] = []
        self._results_ready = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._last_purge = 0.0
        self.sent = 0  # attempts made by this sender (for benchmarks and logs)

    def wake(self) -> None:
        """Look for work now rather than at the next poll (e.g. after a retry request in-process)."""
        self._wake.set()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        timeout = httpx.Timeout(self.ws.timeout_seconds)
        async with httpx.AsyncClient(
            transport=self.transport, timeout=timeout, follow_redirects=False, trust_env=False
        ) as client:
            self._client = client
            writer = asyncio.create_task(self._write_results(), name="webhook-results")
            try:
                await self._loop()
            finally:
                await self._drain()
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
                await self._flush()
                self._client = None

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            busy = False
            try:
                busy = await self._round()
                if self._purge:
                    await self._maybe_purge()
            except (OperationalError, DBAPIError) as exc:
                # Another writer held SQLite's lock past busy_timeout, or the database blinked:
                # nothing was committed, so the next round simply tries again.
                log.warning("webhook sender round failed: %s", exc)
            if busy and len(self._inflight) < self.ws.concurrency:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.ws.poll_seconds)

    async def _round(self) -> bool:
        """Fan out new events and claim due deliveries; start sending them. True if there was work."""
        room = self.ws.concurrency - len(self._inflight)
        if room <= 0:
            return False
        fresh = await fan_out(self.db, self.settings, self.ws, owner=self.owner)
        claimed = list(fresh.claimed)
        more = min(self.ws.batch_size, room - len(claimed))
        if more > 0:
            claimed += await claim_due(self.db, self.ws, owner=self.owner, limit=more)
        jobs = await load_jobs(self.db, self.settings, claimed)
        for job in jobs:
            task = asyncio.create_task(self._attempt(job))
            self._inflight.add(task)
            task.add_done_callback(self._done)
        return bool(fresh.events or jobs)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook attempt crashed", exc_info=task.exception())
        self._wake.set()

    async def _attempt(self, job: Job) -> None:
        assert self._client is not None
        if job.canceled:
            outcome = Outcome(job, None, Decision("canceled", error=job.canceled))
        else:
            result = await send(
                self._client,
                self.transport,
                job,
                self.ws,
                allow_private=self.settings.allow_private_webhooks,
                resolver=self.resolver,
            )
            self.sent += 1
            outcome = Outcome(job, result, decide(job, result, self.ws, utcnow()))
        self._results.append(outcome)
        self._results_ready.set()

    async def _write_results(self) -> None:
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            try:
                await self._flush()
            except (OperationalError, DBAPIError) as exc:
                log.warning("recording webhook results failed, retrying: %s", exc)
                await asyncio.sleep(self.ws.poll_seconds)
                self._results_ready.set()

    async def _flush(self) -> None:
        batch, self._results = self._results, []
        if not batch:
            return
        try:
            await record(self.db, self.ws, batch, owner=self.owner)
        except BaseException:
            self._results = batch + self._results
            raise

    async def _drain(self) -> None:
        """Let requests in flight finish (up to the request timeout); their results are kept."""
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=self.ws.timeout_seconds)
        for task in list(self._inflight):
            task.cancel()  # its lease runs out and another round retries it

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
