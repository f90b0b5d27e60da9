"""Fixtures for the vendor surfaces: tenants with fixed ids as the reference pages use them."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from sqlalchemy import update

from outdial.api.auth import issue_key
from outdial.store.db import Database
from outdial.store.models import Agent, Organization
from tests.api.conftest import Seed, Tenant


@dataclass(frozen=True)
class Vendor:
    """One organization set up for outbound calls on every surface."""

    tenant: Tenant
    agent_id: str
    trunk_id: str
    number_id: str
    number: str
    scoped_key: str  # an API key scoped to agent_id (PolyAI's token)

    @property
    def basic(self) -> str:
        """Twenty2's credentials: base64 of key id and key."""
        raw = f"{self.tenant.key_id}:{self.tenant.api_key}".encode()
        return "Basic " + base64.b64encode(raw).decode()


async def make_vendor(
    seed: Seed,
    name: str,
    *,
    agent_id: str | None = None,
    org_id: str | None = None,
    number: str = "+14155550100",
    default_country: str | None = None,
    trunk_transport: str = "udp",
    trunk_media: str = "none",
    input_parameters: list[dict[str, object]] | None = None,
) -> Vendor:
    db: Database = seed.db
    if org_id is not None:
        async with db.transaction() as s:
            s.add(Organization(id=org_id, name=name, settings={}, default_country=default_country))
    tenant = await seed.tenant(name)
    if default_country is not None and org_id is None:
        async with db.transaction() as s:
            await s.execute(
                update(Organization)
                .where(Organization.id == tenant.org_id)
                .values(default_country=default_country)
            )
    config: dict[str, object] = {}
    if input_parameters is not None:
        config["input_parameters"] = input_parameters
    if agent_id is not None:
        async with db.transaction() as s:
            s.add(
                Agent(id=agent_id, org_id=tenant.org_id, name=f"{name} agent", published=True, config=config)
            )
    else:
        agent_id = await seed.agent(tenant.org_id, **config)
    trunk_id = await seed.trunk(tenant.org_id, transport=trunk_transport, media_encryption=trunk_media)
    number_id = await seed.number(tenant.org_id, number, trunk_id=trunk_id, outbound_agent_id=agent_id)
    async with db.transaction() as s:
        scoped = await issue_key(s, tenant.org_id, agent_id=agent_id)
    return Vendor(tenant, agent_id, trunk_id, number_id, number, scoped.api_key)


@pytest.fixture
async def vendor(seed: Seed) -> Vendor:
    return await make_vendor(seed, "acme")


@pytest.fixture
async def rival(seed: Seed) -> Vendor:
    """Another organization, fully set up: nothing of it may be reachable from ``vendor``."""
    return await make_vendor(seed, "globex", number="+14155550199")
