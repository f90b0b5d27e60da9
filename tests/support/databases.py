"""Real databases for tests: a fresh SQLite file, or a fresh PostgreSQL database per test session."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support.procs import IN_CI

PG_ADMIN = os.environ.get("OUTDIAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


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
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_pg_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
