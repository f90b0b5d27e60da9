"""Each vendor surface's refusals: status code, error shape and code, one case per rule."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from sqlalchemy import update

from outdial.store.models import Agent, CallAttempt, Organization, PhoneNumber
from outdial.store.types import utcnow
from tests.api.compat.conftest import Vendor, make_vendor
from tests.api.conftest import Seed, expect_error

TO = "+18135551234"


# --- Telzino -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"to_number": "8135551234"}, 400, "invalid_phone_number", "to_number"),
        ({"to_number": "(813) 555-1234"}, 400, "invalid_phone_number", "to_number"),
        ({"to_number": "+1813555"}, 400, "invalid_phone_number", "to_number"),
        ({}, 400, "invalid_request", "to_number"),
        ({"to_number": TO, "call_context": "x" * 4001}, 400, "call_context_too_long", "call_context"),
        ({"to_number": TO, "metadata": {"k": "x" * 16380}}, 400, "metadata_too_large", "metadata"),
        (
            {"to_number": TO, "callback_url": "http://example.com/hook"},
            400,
            "invalid_callback_url",
            "callback_url",
        ),
        (
            {"to_number": TO, "callback_url": "https://127.0.0.1/hook"},
            400,
            "invalid_callback_url",
            "callback_url",
        ),
        (
            {"to_number": TO, "callback_url": "https://[::1]/hook"},
            400,
            "invalid_callback_url",
            "callback_url",
        ),
        ({"to_number": TO, "room": "x"}, 400, "invalid_request", "room"),
    ],
)
async def test_telzino_refusals(
    client: httpx.AsyncClient, vendor: Vendor, body: dict[str, object], status: int, code: str, param: str
) -> None:
    r = await client.post(
        f"/v1/agents/{vendor.agent_id}/outbound-calls", json=body, headers=vendor.tenant.headers
    )
    expect_error(r, status, code, param)


async def test_telzino_limits_at_their_edges_are_accepted(client: httpx.AsyncClient, vendor: Vendor) -> None:
    metadata = {"k": "x" * (16 * 1024 - len('{"k":""}'))}  # exactly 16 KB serialized
    r = await client.post(
        f"/v1/agents/{vendor.agent_id}/outbound-calls",
        json={"to_number": TO, "call_context": "x" * 4000, "metadata": metadata},
        headers=vendor.tenant.headers,
    )
    assert r.status_code == 202, r.text


async def test_telzino_auth_agent_and_paging(client: httpx.AsyncClient, vendor: Vendor) -> None:
    path = f"/v1/agents/{vendor.agent_id}/outbound-calls"
    expect_error(await client.post(path, json={"to_number": TO}), 401, "unauthorized")
    expect_error(await client.get(path, headers={"Authorization": "Bearer od_wrong"}), 401, "unauthorized")
    r = await client.post(
        "/v1/agents/123e4567-e89b-12d3-a456-426614174000/outbound-calls",
        json={"to_number": TO},
        headers=vendor.tenant.headers,
    )
    expect_error(r, 404, "agent_not_found")
    expect_error(
        await client.get(path + "?limit=101", headers=vendor.tenant.headers), 400, "invalid_request", "limit"
    )
    expect_error(
        await client.get(path + "?limit=0", headers=vendor.tenant.headers), 400, "invalid_request", "limit"
    )
    expect_error(
        await client.get(path + "?page=0", headers=vendor.tenant.headers), 400, "invalid_request", "page"
    )
    expect_error(
        await client.get(path + "?status=done", headers=vendor.tenant.headers), 400, "invalid_request"
    )
    assert (await client.get(path + "?limit=100", headers=vendor.tenant.headers)).status_code == 200


# --- Twenty2 -------------------------------------------------------------------------------------
def _t2(vendor: Vendor, **overrides: object) -> tuple[dict[str, object], dict[str, str]]:
    body: dict[str, object] = {"agent_id": vendor.agent_id, "callee_phone": TO, "caller_phone": vendor.number}
    body.update(overrides)
    return body, {"Authorization": vendor.basic, "x-workspace-id": vendor.tenant.org_id}


def _t2_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False
    assert body["error"]["code"] == code and body["error"]["status"] == status
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def test_twenty2_refusals(client: httpx.AsyncClient, seed: Seed, db) -> None:  # type: ignore[no-untyped-def]
    vendor = await make_vendor(
        seed, "t2", input_parameters=[{"name": "agentName", "required": True, "description": "x"}]
    )
    url = "/api/agent/trigger-outbound-call"
    good = {"input_parameters": {"agentName": "Rohit"}}

    body, headers = _t2(vendor, **good)
    _t2_error(await client.post(url, json=body), 401, "UNAUTHORIZED")
    _t2_error(
        await client.post(url, json=body, headers={**headers, "x-workspace-id": "nope"}), 401, "UNAUTHORIZED"
    )
    wrong_id = "Basic " + base64.b64encode(f"key_other:{vendor.tenant.api_key}".encode()).decode()
    _t2_error(
        await client.post(url, json=body, headers={**headers, "Authorization": wrong_id}), 401, "UNAUTHORIZED"
    )
    _t2_error(
        await client.post(url, json=body, headers={**headers, "Authorization": "Basic !!"}),
        401,
        "UNAUTHORIZED",
    )
    _t2_error(await client.post(url, content=b"{not json", headers=headers), 400, "INVALID_REQUEST")
    _t2_error(
        await client.post(url, json={"agent_id": vendor.agent_id}, headers=headers), 400, "INVALID_REQUEST"
    )

    # A national number needs the workspace's default country.
    body, _ = _t2(vendor, callee_phone="8135551234", **good)
    _t2_error(await client.post(url, json=body, headers=headers), 400, "INVALID_PHONE_NUMBER")
    async with db.transaction() as s:
        await s.execute(
            update(Organization).where(Organization.id == vendor.tenant.org_id).values(default_country="US")
        )
    r = await client.post(url, json=body, headers=headers)
    assert r.status_code == 200 and r.json()["success"] is True, r.text
    body, _ = _t2(vendor, callee_phone="12", **good)
    _t2_error(await client.post(url, json=body, headers=headers), 400, "INVALID_PHONE_NUMBER")

    body, _ = _t2(vendor, caller_phone="+14155550111", **good)
    _t2_error(await client.post(url, json=body, headers=headers), 400, "CALLER_NOT_ACTIVE")
    _t2_error(await client.post(url, json=_t2(vendor)[0], headers=headers), 400, "INVALID_INPUT_PARAMETERS")
    body, _ = _t2(vendor, input_parameters={"agentName": "R", "extra": 1})
    _t2_error(await client.post(url, json=body, headers=headers), 400, "INVALID_INPUT_PARAMETERS")

    async with db.transaction() as s:
        await s.execute(update(PhoneNumber).where(PhoneNumber.id == vendor.number_id).values(active=False))
    _t2_error(await client.post(url, json=_t2(vendor, **good)[0], headers=headers), 400, "CALLER_NOT_ACTIVE")
    async with db.transaction() as s:
        await s.execute(update(PhoneNumber).where(PhoneNumber.id == vendor.number_id).values(active=True))
        await s.execute(update(Agent).where(Agent.id == vendor.agent_id).values(published=False))
    _t2_error(await client.post(url, json=_t2(vendor, **good)[0], headers=headers), 400, "INVALID_AGENT")
    nul_agent, _ = _t2(vendor, agent_id="a\x00b", **good)
    _t2_error(await client.post(url, json=nul_agent, headers=headers), 400, "INVALID_AGENT")


# --- PolyAI --------------------------------------------------------------------------------------
async def test_polyai_refusals(client: httpx.AsyncClient, seed: Seed, db) -> None:  # type: ignore[no-untyped-def]
    vendor = await make_vendor(seed, "poly", trunk_transport="udp", trunk_media="srtp")
    url = "/v1/outbound-calling"
    token = {"X-PolyAi-Auth-Token": vendor.scoped_key}

    expect_error(await client.post(url, json={"to_number": TO}), 401, "unauthorized")
    expect_error(
        await client.post(url, json={"to_number": TO}, headers={"X-PolyAi-Auth-Token": "od_x"}),
        401,
        "unauthorized",
    )
    unscoped = {"X-PolyAi-Auth-Token": vendor.tenant.api_key}
    expect_error(await client.post(url, json={"to_number": TO}, headers=unscoped), 401, "unauthorized")

    for body, code, param in [
        ({"to_number": "not a number"}, "invalid_phone_number", "to_number"),
        ({"to_number": "8135551234"}, "invalid_phone_number", "to_number"),
        ({"to_number": TO, "metadata": {"n": 1}}, "invalid_request", "metadata"),
        ({"to_number": TO, "metadata": {"n": {"nested": "x"}}}, "invalid_request", "metadata"),
        ({"to_number": TO, "metadata": {"n": True}}, "invalid_request", "metadata"),
        ({"to_number": TO, "metadata": {"bad key": "x"}}, "invalid_request", "metadata"),
        ({"to_number": TO, "metadata": {"k": "x" * 20000}}, "metadata_too_large", "metadata"),
        ({"to_number": TO, "encryption": "TLS"}, "invalid_request", "encryption"),
        # The trunk speaks UDP only: TLS cannot be had, nor can plain RTP... it can (srtp optional).
        ({"to_number": TO, "encryption": "TLS/SRTP"}, "invalid_request", "encryption"),
        ({"to_number": TO}, "invalid_request", "encryption"),
    ]:
        expect_error(await client.post(url, json=body, headers=token), 400, code, param)

    # National number with its country; UDP/SRTP and UDP/RTP fit this trunk.
    r = await client.post(
        url, json={"to_number": "8135551234", "country_code": "US", "encryption": "UDP/SRTP"}, headers=token
    )
    assert r.status_code == 200, r.text
    call = (await client.get(f"/v1/calls/{r.json()['call_sid'][4:]}", headers=vendor.tenant.headers)).json()
    assert call["to_number"] == TO
    r = await client.post(
        url,
        json={"to_number": TO, "encryption": "UDP/RTP", "metadata": {"crm": "7", "X-Ref": "a"}},
        headers=token,
    )
    assert r.status_code == 200, r.text
    call = (await client.get(f"/v1/calls/{r.json()['call_sid'][4:]}", headers=vendor.tenant.headers)).json()
    assert call["sip_headers"] == {"X-crm": "7", "X-Ref": "a"}
    assert call["request_metadata"] == {"crm": "7", "X-Ref": "a"}

    # Over UDP the metadata travels as headers of one datagram: a large one asks for TLS.
    big = {"k": "x" * 2000}
    expect_error(
        await client.post(
            url, json={"to_number": TO, "encryption": "UDP/RTP", "metadata": big}, headers=token
        ),
        400,
        "invalid_request",
        "metadata",
    )
    expect_error(
        await client.post(
            url,
            json={"to_number": TO, "encryption": "UDP/RTP", "metadata": {"k": "a\r\nVia: x"}},
            headers=token,
        ),
        400,
        "invalid_request",
        "metadata",
    )

    # An agent without an outbound number is not set up for outbound calling.
    async with db.transaction() as s:
        await s.execute(
            update(PhoneNumber).where(PhoneNumber.id == vendor.number_id).values(outbound_agent_id=None)
        )
    expect_error(
        await client.post(url, json={"to_number": TO, "encryption": "UDP/RTP"}, headers=token),
        401,
        "unauthorized",
    )
    expect_error(await client.get("/v1/outbound-calling/OUT-nope/status", headers=token), 404, "not_found")
    expect_error(await client.get("/v1/outbound-calling/nope/status", headers=token), 404, "not_found")


# --- Bring your own number --------------------------------------------------------------------------
async def test_byo_refusals(client: httpx.AsyncClient, seed: Seed, db) -> None:  # type: ignore[no-untyped-def]
    vendor = await make_vendor(seed, "byo")
    h = vendor.tenant.headers
    url = "/v1/call"

    r = await client.post(url, json={"from_number": vendor.number, "to_number": TO}, headers=h)
    assert r.status_code == 201, r.text  # neither agent_id nor config: the number's outbound agent
    both = {
        "from_number": vendor.number,
        "to_number": TO,
        "agent_id": vendor.agent_id,
        "config": {"name": "x"},
    }
    expect_error(await client.post(url, json=both, headers=h), 400, "invalid_request", "agent_id")
    inline = {
        "from_number": vendor.number,
        "to_number": TO,
        "config": {"name": "One-off", "prompt": "Be brief."},
    }
    r = await client.post(url, json=inline, headers=h)
    assert r.status_code == 201, r.text
    call = (await client.get(f"/v1/calls/{r.json()['call_id']}", headers=h)).json()
    assert call["agent_id"] is None

    demo = await seed.number(vendor.tenant.org_id, "+14155550123", kind="demo", verified=False)
    unverified = await seed.number(vendor.tenant.org_id, "+14155550124", verified=False)
    assert demo and unverified
    body = {"to_number": TO, "agent_id": vendor.agent_id}
    expect_error(
        await client.post(url, json={**body, "from_number": "+14155550123"}, headers=h),
        403,
        "outbound_blocked_demo_number",
    )
    expect_error(
        await client.post(url, json={**body, "from_number": "+14155550124"}, headers=h),
        403,
        "number_unverified",
    )
    expect_error(
        await client.post(url, json={**body, "from_number": "+14155550999"}, headers=h),
        404,
        "from_number_not_found",
    )

    # Neither agent nor config, and the number has no outbound agent.
    plain = await seed.number(vendor.tenant.org_id, "+14155550125")
    assert plain
    expect_error(
        await client.post(url, json={"from_number": "+14155550125", "to_number": TO}, headers=h),
        400,
        "invalid_request",
    )

    # Idempotency through the body's idempotency_key.
    keyed = {**body, "from_number": vendor.number, "idempotency_key": "order-77"}
    first = await client.post(url, json=keyed, headers=h)
    again = await client.post(url, json=keyed, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json()["call_id"] == again.json()["call_id"]
    expect_error(
        await client.post(url, json={**keyed, "to_number": "+18135550000"}, headers=h),
        409,
        "idempotency_conflict",
    )

    # Billing on with no balance: 402.
    r = await client.patch("/v1/billing", json={"rate_cents_per_minute": 5}, headers=h)
    assert r.status_code == 200, r.text
    expect_error(
        await client.post(url, json={**body, "from_number": vendor.number}, headers=h),
        402,
        "insufficient_balance",
    )
    await client.patch("/v1/billing", json={"rate_cents_per_minute": None}, headers=h)

    # A trunk whose last attempts all failed: 502, safe to retry.
    calls = (await client.get("/v1/calls", headers=h)).json()["data"]
    async with db.transaction() as s:
        for i, c in enumerate(calls[:3]):
            s.add(
                CallAttempt(
                    call_id=c["id"], number=1, status="failed", end_reason="trunk_error", ended_at=utcnow()
                )
            )
            assert i < 3
    expect_error(
        await client.post(url, json={**body, "from_number": vendor.number}, headers=h),
        502,
        "upstream_unavailable",
    )


async def test_polyai_metadata_up_to_its_26kb_base64_limit_over_tls(
    client: httpx.AsyncClient, seed: Seed
) -> None:
    vendor = await make_vendor(seed, "poly-tls", trunk_transport="tls", trunk_media="srtp")
    token = {"X-PolyAi-Auth-Token": vendor.scoped_key}

    def meta(b64_len: int) -> dict[str, str]:
        return {"k": "x" * (b64_len * 3 // 4 - len('{"k":""}'))}

    under, at = meta(26 * 1024 - 4), meta(26 * 1024)
    assert len(base64.b64encode(json.dumps(under, separators=(",", ":")).encode())) < 26 * 1024
    assert len(base64.b64encode(json.dumps(at, separators=(",", ":")).encode())) >= 26 * 1024
    r = await client.post("/v1/outbound-calling", json={"to_number": TO, "metadata": under}, headers=token)
    assert r.status_code == 200, r.text  # larger than the native 16 KB: PolyAI's own limit applies
    call = (await client.get(f"/v1/calls/{r.json()['call_sid'][4:]}", headers=vendor.tenant.headers)).json()
    assert call["request_metadata"] == under and call["sip_headers"] == {"X-k": under["k"]}
    r = await client.post("/v1/outbound-calling", json={"to_number": TO, "metadata": at}, headers=token)
    expect_error(r, 400, "metadata_too_large", "metadata")
