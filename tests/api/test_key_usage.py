"""An API key records when it was last used, at most once a minute (not a write per request)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from outdial.store.db import Database
from outdial.store.models import ApiKey
from tests.api.conftest import Tenant


async def _last_used(db: Database, key_id: str):  # type: ignore[no-untyped-def]
    async with db.session() as s:
        return (await s.execute(select(ApiKey.last_used_at).where(ApiKey.id == key_id))).scalar_one()


async def test_last_used_at_is_recorded_and_throttled(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
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
    await client.get("/v1/organization", headers=tenant.headers)
    assert await _last_used(db, tenant.key_id) > first - timedelta(minutes=2)


async def test_a_refused_key_records_nothing(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    r = await client.get("/v1/organization", headers={"Authorization": f"Bearer {tenant.api_key}x"})
    assert r.status_code == 401
    assert await _last_used(db, tenant.key_id) is None
