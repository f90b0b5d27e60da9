"""Engine and sessions: SQLite (WAL) by default in the data dir, PostgreSQL through asyncpg."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from outdial.config import Settings


def sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No pre-ping: it costs a round trip on every checkout (several per request). Connections are
    # recycled before servers or proxies drop idle ones, and a connection that dies anyway is
    # invalidated on its first error, so the pool replaces it.
    kwargs.setdefault("pool_recycle", 1800)
    return create_async_engine(url, **kwargs)


async def read_shared(session: AsyncSession, statement: Any, params: dict[str, Any]) -> list[Any]:
    """The rows of a read whose rows the caller's transaction never writes.

    A session that carries a ``batch_memo`` dict (the SQLite creation writer's: one transaction,
    holding the write lock, for a batch of creations, none of which writes these rows) answers a
    repeated read from it; any other session runs the statement.
    """
    memo: dict[Any, list[Any]] | None = getattr(session, "batch_memo", None)
    key = (statement, tuple(sorted(params.items()))) if memo is not None else None
    if memo is not None and key in memo:
        return memo[key]
    connection = await session.connection()
    rows = list((await connection.execute(statement, params)).all())
    if memo is not None:
        memo[key] = rows
    return rows


class Database:
    """One engine and its session factory; passed around explicitly, never a module global."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.resolved_database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction, committed on success and rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        from outdial.calls.writer import close_writer  # the calls domain builds on the store

        await close_writer(self.engine.sync_engine)
        await self.engine.dispose()
