"""Run Alembic migrations programmatically (on start and with ``outdial migrate``).

Each domain (dialer, webhooks, billing...) branches its own revision from 0001, so "heads" is the target.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config

from outdial.config import Settings
from outdial.store.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "heads") -> None:
    # env.py drives its own event loop, so run it off this one.
    await asyncio.to_thread(upgrade, url, revision)


@asynccontextmanager
async def migrated(settings: Settings) -> AsyncIterator[Database]:
    """The configured database at the newest schema, disposed of on exit (for one-shot commands)."""
    db = Database.from_settings(settings)
    try:
        await upgrade_async(db.url)
        yield db
    finally:
        await db.dispose()
