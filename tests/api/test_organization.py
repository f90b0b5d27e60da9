"""GET/PATCH /v1/organization: the caller's organization and its defaults."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import Seed, Tenant, expect_error

WINDOW = {"start": "09:00", "end": "18:00", "days": ["mon", "fri"], "timezone": "Asia/Kolkata"}


async def test_get_returns_the_keys_organization_with_empty_defaults(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    r = await client.get("/v1/organization", headers=tenant.headers)
    assert r.status_code == 200
    assert r.json() == {
        "id": tenant.org_id,
        "name": "acme",
        "default_country": None,
        "max_concurrent_calls": None,
        "calling_window": None,
        "created_at": r.json()["created_at"],
    }


async def test_patch_sets_defaults_and_get_reads_them_back(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = {"default_country": "in", "max_concurrent_calls": 20, "calling_window": WINDOW}
    r = await client.patch("/v1/organization", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    got = (await client.get("/v1/organization", headers=tenant.headers)).json()
    assert got["default_country"] == "IN"
    assert got["max_concurrent_calls"] == 20
    assert got["calling_window"] == WINDOW


async def test_patch_changes_only_the_fields_sent_and_null_clears(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await client.patch(
        "/v1/organization", json={"default_country": "US", "max_concurrent_calls": 5}, headers=tenant.headers
    )
    r = await client.patch("/v1/organization", json={"max_concurrent_calls": None}, headers=tenant.headers)
    assert r.json()["default_country"] == "US"
    assert r.json()["max_concurrent_calls"] is None


async def test_calling_window_defaults_to_every_day_in_the_callees_zones(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    r = await client.patch(
        "/v1/organization",
        json={"calling_window": {"start": "22:00", "end": "06:00"}},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["calling_window"] == {
        "start": "22:00",
        "end": "06:00",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "timezone": None,
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"default_country": "XX"}, "default_country"),
        ({"default_country": "USA"}, "default_country"),
        ({"default_country": "U"}, "default_country"),
        ({"max_concurrent_calls": 0}, "max_concurrent_calls"),
        ({"max_concurrent_calls": 10_001}, "max_concurrent_calls"),
        ({"calling_window": {**WINDOW, "start": "24:00"}}, "calling_window.start"),
        ({"calling_window": {**WINDOW, "end": "24:01"}}, "calling_window.end"),
        ({"calling_window": {**WINDOW, "end": "9:00"}}, "calling_window.end"),
        ({"calling_window": {**WINDOW, "end": "09:00"}}, "calling_window"),
        ({"calling_window": {**WINDOW, "timezone": "Mars/Olympus"}}, "calling_window.timezone"),
        ({"calling_window": {**WINDOW, "days": []}}, "calling_window.days"),
        ({"calling_window": {**WINDOW, "days": ["mon", "mon"]}}, "calling_window.days"),
        ({"calling_window": {**WINDOW, "days": ["monday"]}}, "calling_window.days.0"),
        ({"name": "renamed"}, "name"),
    ],
)
async def test_patch_rejects_invalid_values_with_400(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, object], param: str
) -> None:
    r = await client.patch("/v1/organization", json=body, headers=tenant.headers)
    expect_error(r, 400, "invalid_request", param)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"max_concurrent_calls": 1}, 1),
        ({"max_concurrent_calls": 10_000}, 10_000),
    ],
)
async def test_patch_accepts_limits_at_their_edges(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, int], expected: int
) -> None:
    r = await client.patch("/v1/organization", json=body, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["max_concurrent_calls"] == expected


async def test_calling_window_edges_are_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for end in ("23:59", "24:00"):
        window = {"start": "00:00", "end": end, "days": ["sun"], "timezone": "America/New_York"}
        r = await client.patch("/v1/organization", json={"calling_window": window}, headers=tenant.headers)
        assert r.status_code == 200 and r.json()["calling_window"] == window


async def test_patch_leaves_other_organizations_alone(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await client.patch("/v1/organization", json={"default_country": "GB"}, headers=tenant.headers)
    other = (await client.get("/v1/organization", headers=other_tenant.headers)).json()
    assert other["id"] == other_tenant.org_id and other["default_country"] is None


async def test_agent_scoped_key_reads_but_cannot_change_the_organization(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    agent_id = await seed.agent(tenant.org_id)
    scoped = await seed.tenant("acme", agent_id=agent_id)
    assert (await client.get("/v1/organization", headers=scoped.headers)).status_code == 200
    r = await client.patch("/v1/organization", json={"default_country": "US"}, headers=scoped.headers)
    expect_error(r, 403, "forbidden")
