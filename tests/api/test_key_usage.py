"""An API key records when it was last used, at most once a minute (not a write per request)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import event, select, update

from outdial.api.auth import CACHE_TTL_SECONDS
from outdial.store.db import Database
from outdial.store.models import ApiKey
from outdial.store.types import utcnow
from tests.api.conftest import Tenant


async def _last_used(db: Database, key_id: str):  # type: ignore[no-untyped-def]
    async with db.session() as s:
        return (await s.execute(select(ApiKey.last_used_at).where(ApiKey.id == key_id))).scalar_one()


def _later(app: FastAPI, seconds: float) -> None:
    """Move the app's key cache clock forward (its entries are trusted for CACHE_TTL_SECONDS)."""
    cache = app.state.key_cache
    now = cache.clock()
    cache.clock = lambda: now + seconds


async def test_last_used_at_is_recorded_and_throttled(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, app: FastAPI
) -> None:
    assert await _last_used(db, tenant.key_id) is None
    assert (await client.get("/v1/organization", headers=tenant.headers)).status_code == 200
    first = await _last_used(db, tenant.key_id)
    assert first is not None
    await client.get("/v1/organization", headers=tenant.headers)
    assert await _last_used(db, tenant.key_id) == first  # within the minute: no second write
    async with db.transaction() as s:
        await s.execute(
            update(ApiKey).where(ApiKey.id == tenant.key_id).values(last_used_at=first - timedelta(minutes=2))
        )
    _later(app, CACHE_TTL_SECONDS + 1)  # the cached verification expired: the key is read again
    await client.get("/v1/organization", headers=tenant.headers)
    assert await _last_used(db, tenant.key_id) > first - timedelta(minutes=2)


async def test_a_refused_key_records_nothing(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    r = await client.get("/v1/organization", headers={"Authorization": f"Bearer {tenant.api_key}x"})
    assert r.status_code == 401
    assert await _last_used(db, tenant.key_id) is None


async def test_a_revoked_key_stops_working_within_the_cache_ttl(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, app: FastAPI
) -> None:
    assert (await client.get("/v1/organization", headers=tenant.headers)).status_code == 200
    async with db.transaction() as s:
        await s.execute(update(ApiKey).where(ApiKey.id == tenant.key_id).values(revoked_at=utcnow()))
    # Verified a moment ago: this process trusts it for at most CACHE_TTL_SECONDS more.
    assert (await client.get("/v1/organization", headers=tenant.headers)).status_code == 200
    _later(app, CACHE_TTL_SECONDS)
    assert (await client.get("/v1/organization", headers=tenant.headers)).status_code == 401
    _later(app, 0)  # and it stays refused (a refusal is never cached)
    assert (await client.get("/v1/organization", headers=tenant.headers)).status_code == 401


async def test_a_cached_key_is_answered_without_the_database(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    assert (await client.get("/v1/calls/nope", headers=tenant.headers)).status_code == 404
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        assert (await client.get("/v1/calls/nope", headers=tenant.headers)).status_code == 404
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    assert statements and not any("api_keys" in s for s in statements), statements
