"""Isolation: another organization's objects are 404 (never 403, never listed); agent-scoped keys."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import Seed, Tenant, expect_error


@pytest.fixture
async def a_objects(seed: Seed, tenant: Tenant) -> dict[str, str]:
    """Organization A (``tenant``) owns one of everything."""
    agent = await seed.agent(tenant.org_id, "A's agent")
    trunk = await seed.trunk(tenant.org_id)
    number = await seed.number(tenant.org_id, trunk_id=trunk, outbound_agent_id=agent)
    return {"agents": agent, "sip-trunks": trunk, "phone-numbers": number}


@pytest.mark.parametrize("resource", ["agents", "sip-trunks", "phone-numbers"])
async def test_other_org_gets_404_on_every_route_and_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, a_objects: dict[str, str], resource: str
) -> None:
    path = f"/v1/{resource}/{a_objects[resource]}"
    before = (await client.get(path, headers=tenant.headers)).json()
    body = {"name": "hijacked"} if resource != "phone-numbers" else {"active": False}
    for method in ("GET", "PATCH", "DELETE"):
        r = await client.request(method, path, json=body, headers=other_tenant.headers)
        error = expect_error(r, 404, "agent_not_found" if resource == "agents" else "not_found")
        assert a_objects[resource] not in error["message"]
    assert (await client.get(path, headers=tenant.headers)).json() == before


@pytest.mark.parametrize("resource", ["agents", "sip-trunks", "phone-numbers"])
async def test_lists_never_show_another_orgs_objects(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, a_objects: dict[str, str], resource: str
) -> None:
    r = await client.get(f"/v1/{resource}", headers=other_tenant.headers)
    assert r.status_code == 200
    assert r.json()["data"] == [] and r.json()["pagination"]["total"] == 0
    mine = (await client.get(f"/v1/{resource}", headers=tenant.headers)).json()
    assert [o["id"] for o in mine["data"]] == [a_objects[resource]]


async def test_other_org_cannot_link_to_a_orgs_trunk_or_agent(
    client: httpx.AsyncClient, seed: Seed, other_tenant: Tenant, a_objects: dict[str, str]
) -> None:
    own_trunk = await seed.trunk(other_tenant.org_id)
    r = await client.post(
        "/v1/phone-numbers",
        json={"number": "+14155550199", "trunk_id": a_objects["sip-trunks"]},
        headers=other_tenant.headers,
    )
    expect_error(r, 404, "trunk_not_found", "trunk_id")
    r = await client.post(
        "/v1/phone-numbers",
        json={"number": "+14155550199", "trunk_id": own_trunk, "outbound_agent_id": a_objects["agents"]},
        headers=other_tenant.headers,
    )
    expect_error(r, 404, "agent_not_found", "outbound_agent_id")


async def test_outbound_number_link_is_not_visible_across_orgs(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant, other_tenant: Tenant
) -> None:
    # B points its number at A's agent id by writing the store directly; A's agent must not show it.
    agent = await seed.agent(tenant.org_id)
    await seed.number(other_tenant.org_id, outbound_agent_id=agent)
    got = (await client.get(f"/v1/agents/{agent}", headers=tenant.headers)).json()
    assert got["outbound_phone_number_id"] is None


async def test_agent_scoped_key_sees_only_its_agent(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    mine = await seed.agent(tenant.org_id, "mine")
    other = await seed.agent(tenant.org_id, "other")
    scoped = await seed.tenant("acme", agent_id=mine)
    listed = (await client.get("/v1/agents", headers=scoped.headers)).json()
    assert [a["id"] for a in listed["data"]] == [mine] and listed["pagination"]["total"] == 1
    assert (await client.get(f"/v1/agents/{mine}", headers=scoped.headers)).status_code == 200
    expect_error(await client.get(f"/v1/agents/{other}", headers=scoped.headers), 404, "agent_not_found")
    expect_error(
        await client.patch(f"/v1/agents/{other}", json={"name": "x"}, headers=scoped.headers),
        404,
        "agent_not_found",
    )
    r = await client.patch(f"/v1/agents/{mine}", json={"first_message": "Hi!"}, headers=scoped.headers)
    assert r.status_code == 200 and r.json()["first_message"] == "Hi!"


async def test_agent_scoped_key_reads_but_cannot_manage_org_resources(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant, a_objects: dict[str, str]
) -> None:
    scoped = await seed.tenant("acme", agent_id=a_objects["agents"])
    for resource in ("sip-trunks", "phone-numbers"):
        assert (await client.get(f"/v1/{resource}", headers=scoped.headers)).status_code == 200
    writes = [
        ("POST", "/v1/agents", {"name": "new"}),
        ("DELETE", f"/v1/agents/{a_objects['agents']}", None),
        ("POST", "/v1/sip-trunks", {"address": "a.example"}),
        ("PATCH", f"/v1/sip-trunks/{a_objects['sip-trunks']}", {"name": "x"}),
        ("DELETE", f"/v1/sip-trunks/{a_objects['sip-trunks']}", None),
        ("POST", "/v1/phone-numbers", {"number": "+14155550111", "kind": "demo"}),
        ("PATCH", f"/v1/phone-numbers/{a_objects['phone-numbers']}", {"active": False}),
        ("DELETE", f"/v1/phone-numbers/{a_objects['phone-numbers']}", None),
    ]
    for method, path, body in writes:
        r = await client.request(method, path, json=body, headers=scoped.headers)
        expect_error(r, 403, "forbidden")
