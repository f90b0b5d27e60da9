"""Write transactions for the dialer.

SQLite takes its write lock up front (``BEGIN IMMEDIATE``) so a dialer transaction never fails half
way on a lock upgrade; PostgreSQL runs READ COMMITTED and relies on row locks (``FOR UPDATE``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.store.db import Database


@asynccontextmanager
async def write_transaction(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.session() as session:
        if db.is_sqlite:
            await session.execute(text("BEGIN IMMEDIATE"))
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


async def advisory_lock(session: AsyncSession, key: str) -> None:
    """A transaction-scoped lock on ``key`` (PostgreSQL); SQLite's write lock already serialises."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})
