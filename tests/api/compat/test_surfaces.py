"""Calls made on one surface are the same calls on every other; no surface reaches another org."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from outdial.store.models import Call
from tests.api.compat.conftest import Vendor


async def _native(client: httpx.AsyncClient, vendor: Vendor, call_id: str) -> dict[str, object]:
    r = await client.get(f"/v1/calls/{call_id}", headers=vendor.tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_each_surface_creates_a_call_the_native_api_shows(
    client: httpx.AsyncClient, vendor: Vendor
) -> None:
    made: dict[str, str] = {}
    r = await client.post(
        f"/v1/agents/{vendor.agent_id}/outbound-calls",
        json={"to_number": "+18135551234"},
        headers=vendor.tenant.headers,
    )
    made["telzino"] = r.json()["id"]
    r = await client.post(
        "/api/agent/trigger-outbound-call",
        json={"agent_id": vendor.agent_id, "callee_phone": "+18135551234", "caller_phone": vendor.number},
        headers={"Authorization": vendor.basic, "x-workspace-id": vendor.tenant.org_id},
    )
    made["twenty2"] = r.json()["call_id"]
    r = await client.post(
        "/v1/outbound-calling",
        json={"to_number": "+18135551234", "encryption": "UDP/RTP"},
        headers={"X-PolyAi-Auth-Token": vendor.scoped_key},
    )
    made["polyai"] = r.json()["call_sid"].removeprefix("OUT-")
    r = await client.post(
        "/v1/call",
        json={"from_number": vendor.number, "to_number": "+18135551234", "agent_id": vendor.agent_id},
        headers=vendor.tenant.headers,
    )
    assert r.status_code == 201 and r.json()["status"] == "initiated"
    made["byo"] = r.json()["call_id"]

    for source, call_id in made.items():
        call = await _native(client, vendor, call_id)
        assert call["source"] == source
        assert call["to_number"] == "+18135551234" and call["from_number"] == vendor.number
        assert call["agent_id"] == vendor.agent_id
    listed = (await client.get("/v1/calls", headers=vendor.tenant.headers)).json()
    assert {c["id"] for c in listed["data"]} == set(made.values())


async def test_a_native_call_is_visible_on_the_vendor_surfaces(
    client: httpx.AsyncClient, vendor: Vendor, db
) -> None:  # type: ignore[no-untyped-def]
    r = await client.post(
        "/v1/calls",
        json={"agent_id": vendor.agent_id, "to_number": "+18135551234"},
        headers=vendor.tenant.headers,
    )
    call_id = r.json()["id"]
    telzino = await client.get(
        f"/v1/agents/{vendor.agent_id}/outbound-calls/{call_id}", headers=vendor.tenant.headers
    )
    assert telzino.status_code == 200 and telzino.json()["status"] == "queued"
    listed = await client.get(f"/v1/agents/{vendor.agent_id}/outbound-calls", headers=vendor.tenant.headers)
    assert [c["id"] for c in listed.json()["data"]] == [call_id]
    poly = f"/v1/outbound-calling/OUT-{call_id}/status"
    headers = {"X-PolyAi-Auth-Token": vendor.scoped_key}
    assert (await client.get(poly, headers=headers)).json()["status"] == "queued"
    for status, end_reason, expected in [
        ("ringing", None, ("calling", None)),
        ("completed", "callee_hangup", ("success", "callee_hangup")),
        ("busy", "busy", ("failure", "busy")),
    ]:
        async with db.transaction() as s:
            await s.execute(
                update(Call).where(Call.id == call_id).values(status=status, end_reason=end_reason)
            )
        body = (await client.get(poly, headers=headers)).json()
        assert (body["status"], body["reason"]) == expected


async def test_no_surface_reaches_another_organization(
    client: httpx.AsyncClient, vendor: Vendor, rival: Vendor
) -> None:
    theirs = await client.post(
        "/v1/calls",
        json={"agent_id": rival.agent_id, "to_number": "+18135551234"},
        headers=rival.tenant.headers,
    )
    their_call = theirs.json()["id"]
    mine = vendor.tenant.headers

    # Telzino: their agent and their call are not found, whether by create, list or get.
    for method, path, body in [
        ("POST", f"/v1/agents/{rival.agent_id}/outbound-calls", {"to_number": "+18135551234"}),
        ("GET", f"/v1/agents/{rival.agent_id}/outbound-calls", None),
        ("GET", f"/v1/agents/{rival.agent_id}/outbound-calls/{their_call}", None),
        ("GET", f"/v1/agents/{vendor.agent_id}/outbound-calls/{their_call}", None),
    ]:
        r = await client.request(method, path, json=body, headers=mine)
        assert r.status_code == 404, (path, r.text)

    # Twenty2: their workspace with my key is unauthorized; their agent in my workspace is invalid.
    r = await client.post(
        "/api/agent/trigger-outbound-call",
        json={"agent_id": vendor.agent_id, "callee_phone": "+18135551234", "caller_phone": vendor.number},
        headers={"Authorization": vendor.basic, "x-workspace-id": rival.tenant.org_id},
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    r = await client.post(
        "/api/agent/trigger-outbound-call",
        json={"agent_id": rival.agent_id, "callee_phone": "+18135551234", "caller_phone": vendor.number},
        headers={"Authorization": vendor.basic, "x-workspace-id": vendor.tenant.org_id},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_AGENT"
    r = await client.post(
        "/api/agent/trigger-outbound-call",
        json={"agent_id": vendor.agent_id, "callee_phone": "+18135551234", "caller_phone": rival.number},
        headers={"Authorization": vendor.basic, "x-workspace-id": vendor.tenant.org_id},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "CALLER_NOT_ACTIVE"

    # PolyAI: their call's status is not found with my token.
    r = await client.get(
        f"/v1/outbound-calling/OUT-{their_call}/status", headers={"X-PolyAi-Auth-Token": vendor.scoped_key}
    )
    assert r.status_code == 404

    # BYO: their number and their agent are not mine.
    r = await client.post(
        "/v1/call", json={"from_number": rival.number, "to_number": "+18135551234"}, headers=mine
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "from_number_not_found"
    r = await client.post(
        "/v1/call",
        json={"from_number": vendor.number, "to_number": "+18135551234", "agent_id": rival.agent_id},
        headers=mine,
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "agent_not_found"

    # And nothing of mine was created by any of it.
    listed = (await client.get("/v1/calls", headers=mine)).json()
    assert listed["data"] == []
