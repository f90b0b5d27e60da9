"""Bearer API keys on every /v1 route: missing, malformed, unknown and revoked keys get the 401 envelope."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import Seed, Tenant, expect_error

ROUTES = [
    ("GET", "/v1/organization"),
    ("PATCH", "/v1/organization"),
    ("GET", "/v1/agents"),
    ("POST", "/v1/agents"),
    ("GET", "/v1/agents/x"),
    ("PATCH", "/v1/agents/x"),
    ("DELETE", "/v1/agents/x"),
    ("GET", "/v1/sip-trunks"),
    ("POST", "/v1/sip-trunks"),
    ("GET", "/v1/sip-trunks/x"),
    ("PATCH", "/v1/sip-trunks/x"),
    ("DELETE", "/v1/sip-trunks/x"),
    ("GET", "/v1/phone-numbers"),
    ("POST", "/v1/phone-numbers"),
    ("GET", "/v1/phone-numbers/x"),
    ("PATCH", "/v1/phone-numbers/x"),
    ("DELETE", "/v1/phone-numbers/x"),
]


def _check_401(r: httpx.Response) -> None:
    expect_error(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_needs_a_key(client: httpx.AsyncClient, method: str, path: str) -> None:
    _check_401(await client.request(method, path, json={}))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer od_not-a-real-key",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "od_raw-key-without-scheme",
        "Bearer " + "x" * 300,
    ],
)
async def test_bad_credentials_are_401(client: httpx.AsyncClient, tenant: Tenant, authorization: str) -> None:
    _check_401(await client.get("/v1/agents", headers={"Authorization": authorization}))


async def test_a_revoked_key_is_401_and_other_keys_keep_working(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    second = await seed.tenant("acme")
    await seed.revoke(tenant.key_id)
    _check_401(await client.get("/v1/agents", headers=tenant.headers))
    assert (await client.get("/v1/agents", headers=second.headers)).status_code == 200


async def test_the_scheme_is_case_insensitive(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.get("/v1/organization", headers={"Authorization": f"bearer {tenant.api_key}"})
    assert r.status_code == 200


async def test_every_v1_route_declares_its_errors_and_a_summary(app: FastAPI) -> None:
    spec = app.openapi()
    templates = {
        "/v1/agents/x": "/v1/agents/{agent_id}",
        "/v1/sip-trunks/x": "/v1/sip-trunks/{trunk_id}",
        "/v1/phone-numbers/x": "/v1/phone-numbers/{number_id}",
    }
    keys = [(templates.get(path, path), method.lower()) for method, path in ROUTES]
    mine = [(path, method, spec["paths"][path][method]) for path, method in keys]
    for path, method, op in mine:
        assert op.get("summary"), (method, path)
        assert {"400", "401", "404"} <= set(op["responses"]), (method, path)
        assert op.get("security"), (method, path)  # bearer auth is documented


async def test_docs_and_openapi_render(client: httpx.AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for name in (
        "AgentCreate",
        "AgentOut",
        "TrunkCreate",
        "TrunkOut",
        "NumberCreate",
        "NumberOut",
        "OrganizationOut",
    ):
        assert schemas[name].get("examples"), name


@pytest.mark.parametrize(
    ("method", "path", "body", "param"),
    [
        ("POST", "/v1/agents", {"name": "a\x00b"}, "name"),
        ("POST", "/v1/agents", {"name": "a", "tts": {"provider": "espeak", "voice": "\x00"}}, "tts.voice"),
        (
            "PATCH",
            "/v1/organization",
            {"calling_window": {"start": "09:00", "end": "\x00"}},
            "calling_window.end",
        ),
        ("POST", "/v1/sip-trunks", {"address": "a.example", "username": "u\x00"}, "username"),
        (
            "POST",
            "/v1/phone-numbers",
            {"number": "+14155550123", "kind": "demo", "trunk_id": "\x00"},
            "trunk_id",
        ),
    ],
)
async def test_nul_characters_are_refused_with_400_on_both_databases(
    client: httpx.AsyncClient, tenant: Tenant, method: str, path: str, body: dict[str, object], param: str
) -> None:
    # PostgreSQL cannot store U+0000; both databases must give the same answer.
    error = expect_error(
        await client.request(method, path, json=body, headers=tenant.headers), 400, "invalid_request"
    )
    assert param in error["message"]


@pytest.mark.parametrize("resource", ["agents", "sip-trunks", "phone-numbers"])
async def test_an_id_with_a_nul_character_is_404(
    client: httpx.AsyncClient, tenant: Tenant, resource: str
) -> None:
    r = await client.get(f"/v1/{resource}/a%00b", headers=tenant.headers)
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/webhook-endpoints/a%00b"),
        ("PATCH", "/v1/webhook-endpoints/a%00b"),
        ("DELETE", "/v1/webhook-endpoints/a%00b"),
        ("GET", "/v1/webhook-deliveries/a%00b"),
        ("POST", "/v1/webhook-deliveries/a%00b/retry"),
        ("GET", "/v1/calls/a%00b/transcript"),
        ("GET", "/v1/calls/a%00b/recording"),
        ("GET", "/v1/transcripts/a%00b"),
        ("GET", "/v1/agents/a%00b/outbound-calls"),
    ],
)
async def test_a_nul_character_in_any_path_id_is_404(
    client: httpx.AsyncClient, tenant: Tenant, method: str, path: str
) -> None:
    r = await client.request(method, path, json={} if method == "PATCH" else None, headers=tenant.headers)
    assert r.status_code == 404


@pytest.mark.parametrize("query", ["endpoint_id=a%00b", "call_id=a%00b"])
async def test_a_nul_character_in_a_delivery_filter_lists_nothing(
    client: httpx.AsyncClient, tenant: Tenant, query: str
) -> None:
    r = await client.get(f"/v1/webhook-deliveries?{query}", headers=tenant.headers)
    assert r.status_code == 200
    assert r.json()["data"] == []


async def test_agent_patch_with_a_nul_character_is_400(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    agent_id = await seed.agent(tenant.org_id)
    r = await client.patch(f"/v1/agents/{agent_id}", json={"prompt": "x\x00"}, headers=tenant.headers)
    expect_error(r, 400, "invalid_request")
