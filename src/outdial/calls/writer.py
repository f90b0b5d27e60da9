"""SQLite: call creations run on one writer thread and share their commits (group commit).

Through aiosqlite every statement is a hand-off to the connection's thread and back (a dozen per
statement-light request, 20-30 per creation), and SQLite takes one writer at a time anyway. Here a
creation is one job: an ``async def job(session)`` run on this writer's own thread against a
synchronous session, inside ``BEGIN IMMEDIATE``; jobs that arrive while a batch is running wait and
go together in the next one, one hand-off and one ``COMMIT`` for the whole batch.

* Each job runs in its own ``SAVEPOINT``: a job that raises (validation, a check, a constraint) is
  rolled back alone and its exception goes to its own caller; the others commit.
* A job's result is returned only after its batch committed: nothing answered is lost. If the
  commit fails, every job of the batch gets the error.
* After a batch committed a call, the dialers of this process are woken (the local hub: on SQLite
  the API and the dialer share one process).

A job is written against :class:`~sqlalchemy.ext.asyncio.AsyncSession` (so the same code serves
PostgreSQL) but must not wait on anything but the session: the session it gets runs each call
synchronously, so the coroutine finishes without ever suspending (it is driven by hand; one that
suspends is an error). Waiting work (DNS for a callback URL) is done before submitting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from outdial.calls.direct import DirectInserts
from outdial.dialer.notify import NEW_CALL, LocalHub
from outdial.store.db import sqlite_pragmas

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = Callable[[AsyncSession], Coroutine[Any, Any, T]]


class InlineSession:
    """The part of :class:`AsyncSession` a creation job uses, over a synchronous :class:`Session`.

    Every method runs at once on the calling (writer) thread; the ``async`` ones return without
    suspending.
    """

    def __init__(self, sync_session: Session, direct: DirectInserts | None = None) -> None:
        self.sync_session = sync_session
        self.direct = direct
        self._connection: _InlineConnection | None = None
        # Reads of rows no creation writes, shared by the jobs of this batch (store.db.read_shared).
        self.batch_memo: dict[Any, list[Any]] = {}

    async def execute(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        return self.sync_session.execute(statement, params, **kw)

    def enter_savepoint(self) -> None:
        """Called in each job's ``begin_nested()``: asking the session for its connection there is
        what emits the SAVEPOINT (lazily, in SQLAlchemy); the job's Core statements then reuse it."""
        self._connection = _InlineConnection(self.sync_session.connection(), self.direct)

    async def connection(self, **kw: Any) -> _InlineConnection:
        if kw or self._connection is None:
            return _InlineConnection(self.sync_session.connection(**kw), self.direct)
        return self._connection

    async def scalar(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        return self.sync_session.scalar(statement, params, **kw)

    async def scalars(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        return self.sync_session.scalars(statement, params, **kw)

    async def get(self, entity: Any, ident: Any, **kw: Any) -> Any:
        return self.sync_session.get(entity, ident, **kw)

    async def flush(self, objects: Sequence[Any] | None = None) -> None:
        self.sync_session.flush(objects)

    async def delete(self, instance: Any) -> None:
        self.sync_session.delete(instance)

    def add(self, instance: Any) -> None:
        self.sync_session.add(instance)

    def add_all(self, instances: Sequence[Any]) -> None:
        self.sync_session.add_all(instances)

    def get_bind(self, *args: Any, **kw: Any) -> Any:
        return self.sync_session.get_bind(*args, **kw)

    def in_transaction(self) -> bool:
        return self.sync_session.in_transaction()


class _InlineConnection:
    """The part of :class:`AsyncConnection` a job uses (Core statements), over a sync connection."""

    def __init__(self, connection: Connection, direct: DirectInserts | None = None) -> None:
        self.sync_connection = connection
        self.direct = direct

    async def execute(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        direct = self.direct
        if direct is not None and not kw:
            insert = direct.compiled(statement, params)
            if insert is not None:  # a plain INSERT: compiled once, run on the cursor (calls/direct.py)
                return direct.run(self.sync_connection, insert, params)
        return self.sync_connection.execute(statement, params, **kw)


class JobSuspended(RuntimeError):
    """A job awaited something other than its session (it would need the event loop)."""


def run_inline(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its result, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return cast(T, stop.value)
    coro.close()
    raise JobSuspended("a creation job waited on something other than its session")


@dataclass(slots=True)
class _Pending(Generic[T]):
    job: Job[T]
    future: asyncio.Future[T]
    notify: Callable[[T], bool]  # does this result need the dialers woken?


@dataclass(slots=True)
class _Outcome:
    ok: bool
    value: Any = None
    error: BaseException | None = None


@dataclass
class WriterStats:
    batches: int = 0
    jobs: int = 0
    largest_batch: int = 0


class CreationWriter:
    """One writer thread and connection for a SQLite database file; jobs are group-committed."""

    def __init__(self, url: URL) -> None:
        self.url = url  # the async engine's URL (the dialers' hub is keyed by it)
        sync_url = url.set(drivername="sqlite+outdial_writer")
        # One connection, only ever used on the writer thread. isolation_level=None hands
        # transaction control to us (BEGIN IMMEDIATE below), which SAVEPOINTs need with pysqlite.
        self._engine: Engine = create_engine(
            sync_url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False, "isolation_level": None},
        )
        event.listen(self._engine, "connect", sqlite_pragmas)
        event.listen(self._engine, "begin", _begin_immediate)
        self._direct = DirectInserts(self._engine.dialect)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outdial-sqlite-writer")
        self._pending: list[_Pending[Any]] = []
        self._draining: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = WriterStats()

    @property
    def usable(self) -> bool:
        """Jobs can be submitted from the running loop (one loop per writer at a time)."""
        loop = asyncio.get_running_loop()
        return self._draining is None or self._loop is loop

    async def submit(self, job: Job[T], *, notify: Callable[[T], bool] = lambda _r: False) -> T:
        """Run ``job`` in the next batch; its result once that batch has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append(_Pending(job, future, notify))
        if self._draining is None:
            self._loop = loop
            self._draining = loop.create_task(self._drain(), name="outdial-sqlite-writer")
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[_Pending[Any]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    outcomes = await loop.run_in_executor(
                        self._executor, self._run_batch, [p.job for p in batch]
                    )
                except Exception as exc:  # the batch did not commit: nobody's work is in
                    outcomes = [_Outcome(False, error=exc) for _ in batch]
                self._settle(batch, outcomes)
                batch = []
        finally:
            self._draining = None
            # Cancelled (the loop is closing): no caller may wait forever.
            for p in [*batch, *self._pending]:
                if not p.future.done():
                    p.future.cancel()
            self._pending = []

    def _settle(self, batch: list[_Pending[Any]], outcomes: list[_Outcome]) -> None:
        wake = False
        for p, outcome in zip(batch, outcomes, strict=True):
            if p.future.done():  # the caller went away; its work stands as the batch left it
                wake = wake or (outcome.ok and _safe_notify(p, outcome.value))
            elif outcome.ok:
                wake = wake or _safe_notify(p, outcome.value)
                p.future.set_result(outcome.value)
            else:
                p.future.set_exception(outcome.error or RuntimeError("creation failed"))
        if wake:
            LocalHub.for_url(self.url).publish(NEW_CALL)

    def _run_batch(self, jobs: list[Job[Any]]) -> list[_Outcome]:
        """On the writer thread: every job in its savepoint, then one commit."""
        outcomes: list[_Outcome] = []
        with Session(self._engine, expire_on_commit=False) as session:
            inline = InlineSession(session, self._direct)
            for job in jobs:
                try:
                    with session.begin_nested():
                        inline.enter_savepoint()
                        value = run_inline(job(cast(AsyncSession, inline)))
                        session.flush()
                except Exception as exc:
                    outcomes.append(_Outcome(False, error=exc))
                else:
                    outcomes.append(_Outcome(True, value=value))
            if any(o.ok for o in outcomes):
                session.commit()
            else:
                session.rollback()
        self.stats.batches += 1
        self.stats.jobs += len(jobs)
        self.stats.largest_batch = max(self.stats.largest_batch, len(jobs))
        return outcomes

    async def close(self) -> None:
        if self._draining is not None:
            await asyncio.shield(self._draining)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._engine.dispose)
        self._executor.shutdown(wait=True)

    def close_sync(self) -> None:
        self._executor.submit(self._engine.dispose)
        self._executor.shutdown(wait=True)


class WriterDialect(SQLiteDialect_pysqlite):
    """pysqlite, with SAVEPOINT statements sent as plain SQL (not compiled anew for every job)."""

    supports_statement_cache = True

    def do_savepoint(self, connection: Connection, name: str) -> None:
        connection.exec_driver_sql(f'SAVEPOINT "{name}"')

    def do_rollback_to_savepoint(self, connection: Connection, name: str) -> None:
        connection.exec_driver_sql(f'ROLLBACK TO SAVEPOINT "{name}"')

    def do_release_savepoint(self, connection: Connection, name: str) -> None:
        connection.exec_driver_sql(f'RELEASE SAVEPOINT "{name}"')


registry.register("sqlite.outdial_writer", __name__, "WriterDialect")


def _begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN: reads and writes of a batch see one consistent state, and a
    # busy database is waited for here (busy_timeout, on this thread) rather than mid-batch.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _safe_notify(pending: _Pending[Any], value: Any) -> bool:
    try:
        return pending.notify(value)
    except Exception:  # deciding whether to wake the dialers must not lose an answer
        log.exception("creation writer: notify predicate failed")
        return True


_writers: WeakKeyDictionary[Engine, CreationWriter] = WeakKeyDictionary()


def writer_for(session: AsyncSession) -> CreationWriter | None:
    """The writer of the session's SQLite database file; None on PostgreSQL or in-memory SQLite."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return None
    engine = bind.engine
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None  # another connection would not see the same database
    writer = _writers.get(engine)
    if writer is None:
        writer = _writers[engine] = CreationWriter(engine.url)
    return writer if writer.usable else None


async def close_writer(engine: Engine) -> None:
    """Stop the writer of ``engine`` (the async engine's sync engine), if it has one."""
    writer = _writers.pop(engine, None)
    if writer is not None:
        await writer.close()
