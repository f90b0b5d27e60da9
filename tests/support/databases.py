"""Real databases for tests: a fresh SQLite file, or a fresh PostgreSQL database per test session."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from outdial.store.migrate import upgrade
from tests.support.procs import IN_CI

PG_ADMIN = os.environ.get("OUTDIAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_ASYNC_BASE = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")


async def _pg_exec(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def pg_available() -> str | None:
    """None when PostgreSQL answers; else why not."""
    try:
        asyncio.run(_pg_exec("SELECT 1"))
    except Exception as exc:  # any failure to connect means "not available"
        return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    why = pg_available()
    if why is None:
        return
    msg = f"PostgreSQL not reachable at {PG_ADMIN} ({why}); start it to run the PostgreSQL tests"
    if IN_CI:
        pytest.fail(msg + " (CI=true: required)")
    pytest.skip(msg)


def fresh_pg_database() -> Iterator[str]:
    """Create an empty database, yield its asyncpg URL, drop it afterwards."""
    require_postgres()
    name = f"outdial_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_exec(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_ASYNC_BASE}/{name}"
    finally:
        asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# Migrating is the slow part of a database fixture: suites migrate once per session (a SQLite template
# file copied for each test, one PostgreSQL database emptied before each test).
def migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    """A copy of the migrated template in ``directory``, as a database URL."""
    target = directory / "outdial.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


def migrated_pg_database() -> Iterator[str]:
    """A PostgreSQL database migrated to every head for the session (its asyncpg URL); dropped after."""
    for url in fresh_pg_database():
        upgrade(url)
        yield url


async def empty_pg_database(url: str) -> None:
    """Every table emptied but Alembic's: DELETE with foreign-key triggers off (far faster than
    TRUNCATE on a few small tables)."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            for t in tables:
                await conn.execute(f'DELETE FROM "{t["tablename"]}"')
    finally:
        await conn.close()
