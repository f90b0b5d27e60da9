"""/v1/phone-numbers: E.164 validation, kinds, links to the org's trunk and agent, duplicates, CRUD."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import Seed, Tenant, expect_error


async def _create(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/phone-numbers", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_create_normalizes_to_e164_and_starts_unverified(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    trunk_id = await seed.trunk(tenant.org_id)
    agent_id = await seed.agent(tenant.org_id)
    number = await _create(
        client, tenant, number="+1 (415) 555-0123", trunk_id=trunk_id, outbound_agent_id=agent_id
    )
    assert number["number"] == "+14155550123"
    assert number["kind"] == "voip" and number["trunk_id"] == trunk_id
    assert number["verified"] is False and number["verified_at"] is None
    assert number["active"] is True and number["outbound_agent_id"] == agent_id
    assert (await client.get(f"/v1/phone-numbers/{number['id']}", headers=tenant.headers)).json() == number
    agent = (await client.get(f"/v1/agents/{agent_id}", headers=tenant.headers)).json()
    assert agent["outbound_phone_number_id"] == number["id"]


@pytest.mark.parametrize(
    "raw",
    ["4155550123", "+1415555012", "+999123456789", "+1 415 555 01234", "not a number", "", "+" + "1" * 32],
)
async def test_invalid_numbers_are_400_invalid_phone_number(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant, raw: str
) -> None:
    trunk_id = await seed.trunk(tenant.org_id)
    r = await client.post(
        "/v1/phone-numbers", json={"number": raw, "trunk_id": trunk_id}, headers=tenant.headers
    )
    expect_error(r, 400, "invalid_phone_number", "number")


async def test_demo_numbers_need_no_trunk(client: httpx.AsyncClient, tenant: Tenant) -> None:
    number = await _create(client, tenant, number="+442071838750", kind="demo")
    assert number["kind"] == "demo" and number["trunk_id"] is None


async def test_voip_numbers_need_a_trunk(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.post("/v1/phone-numbers", json={"number": "+14155550123"}, headers=tenant.headers)
    expect_error(r, 400, "invalid_request", "trunk_id")


async def test_trunk_and_agent_must_be_the_organizations(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant, other_tenant: Tenant
) -> None:
    foreign_trunk = await seed.trunk(other_tenant.org_id)
    foreign_agent = await seed.agent(other_tenant.org_id)
    own_trunk = await seed.trunk(tenant.org_id)
    r = await client.post(
        "/v1/phone-numbers",
        json={"number": "+14155550123", "trunk_id": foreign_trunk},
        headers=tenant.headers,
    )
    expect_error(r, 404, "trunk_not_found", "trunk_id")
    r = await client.post(
        "/v1/phone-numbers",
        json={"number": "+14155550123", "trunk_id": own_trunk, "outbound_agent_id": foreign_agent},
        headers=tenant.headers,
    )
    expect_error(r, 404, "agent_not_found", "outbound_agent_id")


async def test_verified_is_read_only(client: httpx.AsyncClient, seed: Seed, tenant: Tenant) -> None:
    trunk_id = await seed.trunk(tenant.org_id)
    body = {"number": "+14155550123", "trunk_id": trunk_id, "verified": True}
    expect_error(
        await client.post("/v1/phone-numbers", json=body, headers=tenant.headers),
        400,
        "invalid_request",
        "verified",
    )
    number = await _create(client, tenant, number="+14155550123", trunk_id=trunk_id)
    r = await client.patch(
        f"/v1/phone-numbers/{number['id']}", json={"verified": True}, headers=tenant.headers
    )
    expect_error(r, 400, "invalid_request", "verified")


async def test_duplicate_number_in_an_org_is_409_but_another_org_may_hold_it(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant, other_tenant: Tenant
) -> None:
    trunk_id = await seed.trunk(tenant.org_id)
    await _create(client, tenant, number="+14155550123", trunk_id=trunk_id)
    r = await client.post(
        "/v1/phone-numbers", json={"number": "+1 415-555-0123", "trunk_id": trunk_id}, headers=tenant.headers
    )
    expect_error(r, 409, "phone_number_exists", "number")
    other_trunk = await seed.trunk(other_tenant.org_id)
    await _create(client, other_tenant, number="+14155550123", trunk_id=other_trunk)


async def test_list_filters_and_orders_newest_first(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    trunk_id = await seed.trunk(tenant.org_id)
    a = await _create(client, tenant, number="+14155550100", trunk_id=trunk_id)
    b = await _create(client, tenant, number="+14155550101", kind="demo")
    c = await _create(client, tenant, number="+14155550102", trunk_id=trunk_id, active=False)
    listed = (await client.get("/v1/phone-numbers", headers=tenant.headers)).json()
    assert [n["id"] for n in listed["data"]] == [c["id"], b["id"], a["id"]]
    assert listed["pagination"]["total"] == 3

    async def ids(**params: str) -> list[str]:
        body = (await client.get("/v1/phone-numbers", params=params, headers=tenant.headers)).json()
        return [n["id"] for n in body["data"]]

    assert await ids(kind="demo") == [b["id"]]
    assert await ids(active="false") == [c["id"]]
    assert await ids(number="+1 415 555 0100") == [a["id"]]
    expect_error(
        await client.get("/v1/phone-numbers", params={"number": "12"}, headers=tenant.headers),
        400,
        "invalid_phone_number",
        "number",
    )


async def test_patch_moving_to_another_trunk_clears_verified(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    trunk_a = await seed.trunk(tenant.org_id)
    trunk_b = await seed.trunk(tenant.org_id, "127.0.0.2")
    number_id = await seed.number(tenant.org_id, trunk_id=trunk_a, verified=True)
    r = await client.patch(f"/v1/phone-numbers/{number_id}", json={"active": False}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["verified"] is True
    r = await client.patch(
        f"/v1/phone-numbers/{number_id}", json={"trunk_id": trunk_b}, headers=tenant.headers
    )
    assert r.status_code == 200 and r.json()["trunk_id"] == trunk_b and r.json()["verified"] is False


async def test_patch_links_and_unlinks_the_outbound_agent(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    agent_id = await seed.agent(tenant.org_id)
    number_id = await seed.number(tenant.org_id)
    r = await client.patch(
        f"/v1/phone-numbers/{number_id}", json={"outbound_agent_id": agent_id}, headers=tenant.headers
    )
    assert r.json()["outbound_agent_id"] == agent_id
    r = await client.patch(
        f"/v1/phone-numbers/{number_id}", json={"outbound_agent_id": None}, headers=tenant.headers
    )
    assert r.json()["outbound_agent_id"] is None


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"kind": None}, 400, "invalid_request", "kind"),
        ({"active": None}, 400, "invalid_request", "active"),
        ({"kind": "landline"}, 400, "invalid_request", "kind"),
        ({"trunk_id": None}, 400, "invalid_request", "trunk_id"),
        ({"trunk_id": "missing"}, 404, "trunk_not_found", "trunk_id"),
        ({"outbound_agent_id": "missing"}, 404, "agent_not_found", "outbound_agent_id"),
        ({"number": "+14155550199"}, 400, "invalid_request", "number"),
    ],
)
async def test_patch_rejects_invalid_changes(
    client: httpx.AsyncClient,
    seed: Seed,
    tenant: Tenant,
    body: dict[str, Any],
    status: int,
    code: str,
    param: str,
) -> None:
    number_id = await seed.number(tenant.org_id)
    r = await client.patch(f"/v1/phone-numbers/{number_id}", json=body, headers=tenant.headers)
    expect_error(r, status, code, param)


async def test_delete_then_404(client: httpx.AsyncClient, seed: Seed, tenant: Tenant) -> None:
    number_id = await seed.number(tenant.org_id)
    assert (await client.delete(f"/v1/phone-numbers/{number_id}", headers=tenant.headers)).status_code == 204
    for method in ("GET", "PATCH", "DELETE"):
        r = await client.request(method, f"/v1/phone-numbers/{number_id}", json={}, headers=tenant.headers)
        expect_error(r, 404, "not_found")
