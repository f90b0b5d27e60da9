"""Fixtures of the dialer tests: migrated databases, SQLite and PostgreSQL, empty for every test.

Migrations run once per session: SQLite into a template file that each test copies, PostgreSQL into
one database that is emptied before each test (tests/support/databases.py). Every test starts from
empty tables.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from outdial.store.db import Database
from tests.support.databases import (
    empty_pg_database,
    migrated_pg_database,
    migrated_sqlite_template,
    sqlite_copy,
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("dialer-db"))


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    yield from migrated_pg_database()


@pytest.fixture(params=["sqlite", "postgres"])
def dialer_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
    else:
        url = request.getfixturevalue("pg_session_url")
        asyncio.run(empty_pg_database(url))
        yield url


@pytest.fixture
async def db(dialer_db_url: str) -> AsyncIterator[Database]:
    """A migrated database; every test using it runs on SQLite and on PostgreSQL."""
    database = Database(dialer_db_url)
    yield database
    await database.dispose()


@pytest.fixture
def fresh_pg_url(pg_session_url: str) -> str:
    asyncio.run(empty_pg_database(pg_session_url))
    return pg_session_url


@pytest.fixture
async def pg_db(fresh_pg_url: str) -> AsyncIterator[Database]:
    """A migrated PostgreSQL database, for the tests that need several workers on one database."""
    database = Database(fresh_pg_url)
    yield database
    await database.dispose()
