"""Fixtures shared by the API tests: a migrated database, the app over real HTTP semantics, tenants.

Every test that takes ``client`` runs twice, on SQLite and on PostgreSQL (``db_url``). Each database is
migrated once per session; every test starts from an empty one (a copy of the migrated SQLite file; the
PostgreSQL database emptied), which keeps the suite fast without sharing rows between tests.
The seeding helpers write rows straight to the store, so a test can set up state the API cannot
(a *verified* VoIP number) and does not depend on the routes it is not testing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from outdial.api.app import create_app
from outdial.api.auth import get_or_create_org, issue_key
from outdial.config import Settings
from outdial.store.db import Database
from outdial.store.models import Agent, PhoneNumber, SipTrunk
from outdial.store.types import utcnow
from tests.support.databases import (
    empty_pg_database,
    migrated_pg_database,
    migrated_sqlite_template,
    sqlite_copy,
)


@dataclass(frozen=True)
class Tenant:
    """An organization and one API key of it; ``headers`` authenticate a request as that key."""

    org_id: str
    key_id: str
    api_key: str
    agent_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Seed:
    """Writes fixtures directly to the store (bypassing the API)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def tenant(self, name: str = "acme", *, agent_id: str | None = None) -> Tenant:
        async with self.db.transaction() as s:
            org = await get_or_create_org(s, name)
            key = await issue_key(s, org.id, agent_id=agent_id)
        return Tenant(
            org_id=key.org_id,
            key_id=key.key_id,
            api_key=key.api_key,
            agent_id=agent_id,
            headers={"Authorization": f"Bearer {key.api_key}"},
        )

    async def agent(
        self, org_id: str, name: str = "Support agent", *, published: bool = True, **config: Any
    ) -> str:
        """An agent with ``config`` (prompt, input_parameters, ...) stored as given."""
        async with self.db.transaction() as s:
            agent = Agent(org_id=org_id, name=name, published=published, config=config)
            s.add(agent)
            await s.flush()
            return agent.id

    async def trunk(self, org_id: str, address: str = "127.0.0.1:5060", **fields: Any) -> str:
        async with self.db.transaction() as s:
            trunk = SipTrunk(org_id=org_id, address=address, **fields)
            s.add(trunk)
            await s.flush()
            return trunk.id

    async def number(
        self,
        org_id: str,
        number: str = "+14155550100",
        *,
        trunk_id: str | None = None,
        kind: str = "voip",
        verified: bool = True,
        active: bool = True,
        outbound_agent_id: str | None = None,
    ) -> str:
        """A phone number; VoIP numbers get a trunk of their own unless ``trunk_id`` is given."""
        if kind == "voip" and trunk_id is None:
            trunk_id = await self.trunk(org_id)
        async with self.db.transaction() as s:
            row = PhoneNumber(
                org_id=org_id,
                number=number,
                kind=kind,
                trunk_id=trunk_id,
                verified=verified,
                verified_at=utcnow() if verified else None,
                active=active,
                outbound_agent_id=outbound_agent_id,
            )
            s.add(row)
            await s.flush()
            return row.id

    async def revoke(self, key_id: str) -> None:
        from sqlalchemy import update

        from outdial.store.models import ApiKey

        async with self.db.transaction() as s:
            await s.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))


@dataclass(frozen=True)
class Ready:
    """A tenant with everything a call needs: a published agent and a verified VoIP number."""

    tenant: Tenant
    agent_id: str
    trunk_id: str
    number_id: str
    number: str


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Override in a test module to change settings (e.g. ``allow_private_webhooks=True``)."""
    return Settings(data_dir=tmp_path / "data", database_url=db_url)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str]:
    yield from migrated_pg_database()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Overrides the suite's ``db_url``: the same two databases, migrated once and empty for each test
    (creating and migrating a database per test is what made API tests slow)."""
    if request.param == "sqlite":
        yield sqlite_copy(request.getfixturevalue("_sqlite_template"), tmp_path)
        return
    url = request.getfixturevalue("_pg_database")
    asyncio.run(empty_pg_database(url))
    yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """The test's database, migrated to every head."""
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    """The app with its lifespan run (startup before the test, shutdown after)."""
    application = create_app(settings, db, migrate=False)  # the `db` fixture already migrated
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://outdial.test") as c:
        yield c


@pytest.fixture
def seed(db: Database) -> Seed:
    return Seed(db)


@pytest.fixture
async def tenant(seed: Seed) -> Tenant:
    return await seed.tenant("acme")


@pytest.fixture
async def other_tenant(seed: Seed) -> Tenant:
    return await seed.tenant("globex")


@pytest.fixture
async def ready(seed: Seed, tenant: Tenant) -> Ready:
    agent_id = await seed.agent(tenant.org_id)
    trunk_id = await seed.trunk(tenant.org_id)
    number = "+14155550100"
    number_id = await seed.number(
        tenant.org_id, number, trunk_id=trunk_id, verified=True, outbound_agent_id=agent_id
    )
    return Ready(tenant=tenant, agent_id=agent_id, trunk_id=trunk_id, number_id=number_id, number=number)


def expect_error(
    response: httpx.Response, status: int, code: str, param: str | None = "<any>"
) -> dict[str, Any]:
    """Assert the native error envelope with ``status`` and ``code`` (and ``param`` when given)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    if param != "<any>":
        assert error["param"] == param, error
    return dict(error)
