"""/v1/sip-trunks: CRUD, address validation, write-only password, re-verification on a new route."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import Seed, Tenant, expect_error

FULL = {
    "name": "Carrier",
    "address": "SIP.Carrier.Example:5060",
    "transport": "tls",
    "username": "acme",
    "password": "s3cret-password",
    "media_encryption": "srtp_required",
    "max_concurrent_calls": 30,
    "calls_per_second": 2.5,
}


async def _create(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/sip-trunks", json={"address": "127.0.0.1", **body}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_create_returns_the_trunk_without_its_password(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    r = await client.post("/v1/sip-trunks", json=FULL, headers=tenant.headers)
    assert r.status_code == 201, r.text
    trunk = r.json()
    assert "password" not in trunk and "s3cret-password" not in r.text
    assert trunk["has_password"] is True
    assert trunk["address"] == "sip.carrier.example:5060"
    for field in ("transport", "username", "media_encryption", "max_concurrent_calls", "calls_per_second"):
        assert trunk[field] == FULL[field]
    got = await client.get(f"/v1/sip-trunks/{trunk['id']}", headers=tenant.headers)
    assert got.json() == trunk and "s3cret-password" not in got.text


async def test_defaults_are_udp_without_encryption_or_limits(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    trunk = await _create(client, tenant)
    assert trunk["transport"] == "udp" and trunk["media_encryption"] == "none"
    assert trunk["has_password"] is False and trunk["username"] is None
    assert trunk["max_concurrent_calls"] is None and trunk["calls_per_second"] is None


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("sip.example.com", "sip.example.com"),
        ("sip.example.com:5061", "sip.example.com:5061"),
        ("203.0.113.7:1", "203.0.113.7:1"),
        ("203.0.113.7:65535", "203.0.113.7:65535"),
        ("[2001:DB8::1]:5060", "[2001:db8::1]:5060"),
        ("[::1]", "[::1]"),
        ("localhost", "localhost"),
    ],
)
async def test_valid_addresses_are_normalized(
    client: httpx.AsyncClient, tenant: Tenant, raw: str, normalized: str
) -> None:
    assert (await _create(client, tenant, address=raw))["address"] == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "sip:carrier.example",
        "user@carrier.example",
        "carrier.example/path",
        "carrier.example:0",
        "carrier.example:65536",
        "carrier.example:port",
        "2001:db8::1",
        "[2001:db8::zz]",
        "-bad-.example",
        "999.1.1.1",
        "a b",
        "x" * 301,
    ],
)
async def test_invalid_addresses_are_400(client: httpx.AsyncClient, tenant: Tenant, raw: str) -> None:
    r = await client.post("/v1/sip-trunks", json={"address": raw}, headers=tenant.headers)
    expect_error(r, 400, "invalid_request", "address")


@pytest.mark.parametrize(
    ("field", "good", "bad"),
    [
        ("transport", ["udp", "tcp", "tls"], ["sctp", "UDP"]),
        ("media_encryption", ["none", "srtp", "srtp_required"], ["zrtp"]),
        ("max_concurrent_calls", [1, 10_000], [0, 10_001]),
        ("calls_per_second", [0.01, 1000], [0, -1, 1000.5]),
        ("username", ["u" * 200], ["u" * 201]),
        ("password", ["p" * 500], ["p" * 501]),
    ],
)
async def test_field_limits_at_their_edges(
    client: httpx.AsyncClient, tenant: Tenant, field: str, good: list[Any], bad: list[Any]
) -> None:
    for value in good:
        r = await client.post(
            "/v1/sip-trunks", json={"address": "a.example", field: value}, headers=tenant.headers
        )
        assert r.status_code == 201, (field, value, r.text)
    for value in bad:
        r = await client.post(
            "/v1/sip-trunks", json={"address": "a.example", field: value}, headers=tenant.headers
        )
        expect_error(r, 400, "invalid_request", field)


async def test_unknown_fields_are_rejected(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.post(
        "/v1/sip-trunks", json={"address": "a.example", "proxy": "x"}, headers=tenant.headers
    )
    expect_error(r, 400, "invalid_request", "proxy")


async def test_list_is_newest_first(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ids = [(await _create(client, tenant, name=f"t{i}"))["id"] for i in range(3)]
    body = (await client.get("/v1/sip-trunks", headers=tenant.headers)).json()
    assert [t["id"] for t in body["data"]] == ids[::-1]
    assert body["pagination"]["total"] == 3 and body["pagination"]["limit"] == 50


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trunk = await _create(client, tenant, **{k: v for k, v in FULL.items() if k != "address"})
    r = await client.patch(
        f"/v1/sip-trunks/{trunk['id']}",
        json={"calls_per_second": 10, "password": None},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["calls_per_second"] == 10 and got["has_password"] is False
    assert got["username"] == "acme" and got["transport"] == "tls"


@pytest.mark.parametrize("field", ["address", "transport", "media_encryption"])
async def test_patch_cannot_null_required_fields(
    client: httpx.AsyncClient, tenant: Tenant, field: str
) -> None:
    trunk = await _create(client, tenant)
    r = await client.patch(f"/v1/sip-trunks/{trunk['id']}", json={field: None}, headers=tenant.headers)
    expect_error(r, 400, "invalid_request", field)


async def test_patch_validates_the_address(client: httpx.AsyncClient, tenant: Tenant) -> None:
    trunk = await _create(client, tenant)
    r = await client.patch(f"/v1/sip-trunks/{trunk['id']}", json={"address": "sip:x"}, headers=tenant.headers)
    expect_error(r, 400, "invalid_request", "address")


async def test_new_address_clears_verified_on_the_trunks_numbers(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    trunk_id = await seed.trunk(tenant.org_id, "127.0.0.1:5060")
    other_trunk = await seed.trunk(tenant.org_id, "127.0.0.2:5060")
    on_trunk = await seed.number(tenant.org_id, "+14155550100", trunk_id=trunk_id, verified=True)
    elsewhere = await seed.number(tenant.org_id, "+14155550101", trunk_id=other_trunk, verified=True)

    # Same address again (normalized): nothing to re-verify.
    r = await client.patch(
        f"/v1/sip-trunks/{trunk_id}", json={"address": "127.0.0.1:5060"}, headers=tenant.headers
    )
    assert r.status_code == 200
    n = (await client.get(f"/v1/phone-numbers/{on_trunk}", headers=tenant.headers)).json()
    assert n["verified"] is True

    r = await client.patch(
        f"/v1/sip-trunks/{trunk_id}", json={"address": "127.0.0.1:5070"}, headers=tenant.headers
    )
    assert r.status_code == 200
    n = (await client.get(f"/v1/phone-numbers/{on_trunk}", headers=tenant.headers)).json()
    assert n["verified"] is False and n["verified_at"] is None
    assert (await client.get(f"/v1/phone-numbers/{elsewhere}", headers=tenant.headers)).json()[
        "verified"
    ] is True


async def test_new_transport_clears_verified(client: httpx.AsyncClient, seed: Seed, tenant: Tenant) -> None:
    trunk_id = await seed.trunk(tenant.org_id)
    number_id = await seed.number(tenant.org_id, trunk_id=trunk_id, verified=True)
    await client.patch(f"/v1/sip-trunks/{trunk_id}", json={"transport": "tcp"}, headers=tenant.headers)
    assert (await client.get(f"/v1/phone-numbers/{number_id}", headers=tenant.headers)).json()[
        "verified"
    ] is False


async def test_delete_is_refused_while_numbers_use_the_trunk(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    trunk_id = await seed.trunk(tenant.org_id)
    number_id = await seed.number(tenant.org_id, trunk_id=trunk_id)
    expect_error(
        await client.delete(f"/v1/sip-trunks/{trunk_id}", headers=tenant.headers), 409, "trunk_in_use"
    )
    assert (await client.delete(f"/v1/phone-numbers/{number_id}", headers=tenant.headers)).status_code == 204
    r = await client.delete(f"/v1/sip-trunks/{trunk_id}", headers=tenant.headers)
    assert r.status_code == 204
    expect_error(await client.get(f"/v1/sip-trunks/{trunk_id}", headers=tenant.headers), 404, "not_found")


async def test_missing_trunk_is_404_on_every_route(client: httpx.AsyncClient, tenant: Tenant) -> None:
    path = "/v1/sip-trunks/nope"
    expect_error(await client.get(path, headers=tenant.headers), 404, "not_found")
    expect_error(await client.patch(path, json={}, headers=tenant.headers), 404, "not_found")
    expect_error(await client.delete(path, headers=tenant.headers), 404, "not_found")
