"""Fixtures of the dialer tests: a migrated database on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from outdial.store.db import Database
from outdial.store.migrate import upgrade_async
from tests.support.databases import fresh_pg_database


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    await upgrade_async(db_url)
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    yield from fresh_pg_database()


@pytest.fixture
async def pg_db(fresh_pg_url: str) -> AsyncIterator[Database]:
    """A fresh, migrated PostgreSQL database for the PostgreSQL-only tests (several workers)."""
    await upgrade_async(fresh_pg_url)
    database = Database(fresh_pg_url)
    yield database
    await database.dispose()
