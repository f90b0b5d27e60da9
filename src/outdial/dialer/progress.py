"""A worker's call progress (ringing, answered, SIP Call-ID, turns, ends), written in batches.

Each call's writes keep their order. Writes of many calls that are ready together share one
transaction: a burst of 180s or of hang-ups costs one commit, not one per call. A batch first locks
all of its calls with one query, in id order (see :func:`outdial.dialer.attempts.lock_calls`), so
the jobs find them in the session. A batch that fails is tried once more; if it fails again, its calls
are written one call per transaction (one call's bad write cannot hold back the others), each tried
up to three times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from outdial.dialer.attempts import lock_calls
from outdial.dialer.txn import write_transaction
from outdial.store.db import Database

log = logging.getLogger(__name__)

Job = Callable[[AsyncSession], Awaitable[Any]]
TRIES = 3


@dataclass(slots=True)
class _Item:
    call_id: str
    attempt_id: str
    job: Job
    done: asyncio.Future[None] | None = None


class ProgressWriter:
    """One worker's progress writes: ``put`` them as they happen; ``close`` writes what is left."""

    def __init__(self, db: Database, *, max_batch: int = 200) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed (for tests and benchmarks)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="dialer-progress")

    def put(self, call_id: str, attempt_id: str, job: Job) -> None:
        self.start()
        self._queue.put_nowait(_Item(call_id, attempt_id, job))

    def put_last(self, call_id: str, attempt_id: str, job: Job) -> asyncio.Future[None]:
        """Queue a call's last write; the future resolves once it is written (or given up on)."""
        self.start()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(call_id, attempt_id, job, done))
        return done

    async def close(self) -> None:
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None

    async def _run(self) -> None:
        done = False
        while not done:
            item = await self._queue.get()
            batch: list[_Item] = []
            while True:
                if item is None:
                    done = True
                    break
                batch.append(item)
                if len(batch) >= self._max_batch or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            if batch:
                try:
                    await self._write(batch)
                finally:
                    for it in batch:
                        if it.done is not None and not it.done.done():
                            it.done.set_result(None)

    async def _write(self, batch: list[_Item]) -> None:
        by_call: dict[str, list[_Item]] = {}
        for it in batch:
            by_call.setdefault(it.call_id, []).append(it)
        # A transient failure (a dropped connection) passes on the second try; a write that keeps
        # failing is looked for one call at a time so that the other calls are recorded.
        if await self._try(batch, tries=TRIES if len(by_call) == 1 else 2):
            return
        if len(by_call) > 1:
            log.warning(
                "recording the progress of %d calls together failed; one call at a time", len(by_call)
            )
            for items in by_call.values():
                await self._try(items, tries=TRIES)

    async def _try(self, items: list[_Item], *, tries: int) -> bool:
        for n in range(tries):
            try:
                await self._transaction(items)
                return True
            except Exception:
                log.exception("recording call progress failed (try %d of %d)", n + 1, tries)
                if n + 1 < tries:
                    await asyncio.sleep(0.2 * (n + 1))
        return False

    async def _transaction(self, items: list[_Item]) -> None:
        async with write_transaction(self._db) as session:
            await lock_calls(
                session, sorted({it.call_id for it in items}), sorted({it.attempt_id for it in items})
            )
            for it in items:
                await it.job(session)
        self.batches += 1
