"""Fixtures of the dialer tests: migrated databases, SQLite and PostgreSQL, empty for every test.

Migrations run once per session: SQLite into a template file that each test copies, PostgreSQL into
one database that is emptied (TRUNCATE) before each test. Every test starts from empty tables.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from outdial.store.db import Database
from outdial.store.migrate import upgrade
from tests.support.databases import PG_ADMIN, _pg_exec, require_postgres

PG_BASE = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dialer-db") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    require_postgres()
    name = f"outdial_dialer_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_exec(f'CREATE DATABASE "{name}"'))
    try:
        url = f"{PG_BASE}/{name}"
        upgrade(url)
        yield url
    finally:
        asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate(url: str) -> None:
    import asyncpg

    from outdial.store.registry import metadata

    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        await conn.execute(f"TRUNCATE {tables} CASCADE")
    finally:
        await conn.close()


def _pg_empty(url: str) -> Iterator[str]:
    asyncio.run(_truncate(url))
    yield url


@pytest.fixture(params=["sqlite", "postgres"])
def dialer_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "outdial.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        yield from _pg_empty(request.getfixturevalue("pg_session_url"))


@pytest.fixture
async def db(dialer_db_url: str) -> AsyncIterator[Database]:
    """A migrated database; every test using it runs on SQLite and on PostgreSQL."""
    database = Database(dialer_db_url)
    yield database
    await database.dispose()


@pytest.fixture
def fresh_pg_url(pg_session_url: str) -> Iterator[str]:
    yield from _pg_empty(pg_session_url)


@pytest.fixture
async def pg_db(fresh_pg_url: str) -> AsyncIterator[Database]:
    """A migrated PostgreSQL database, for the tests that need several workers on one database."""
    database = Database(fresh_pg_url)
    yield database
    await database.dispose()
