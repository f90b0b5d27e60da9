"""Shared fixtures: real databases (SQLite and PostgreSQL) and process/port helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import fresh_pg_database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session (skipped without PostgreSQL, unless CI)."""
    yield from fresh_pg_database()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on both databases; PostgreSQL gets a fresh database per test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'outdial.db'}"
    else:
        yield from fresh_pg_database()
