"""The do-not-call list: managed through /v1/dnc, enforced on every surface."""

from __future__ import annotations

import httpx

from tests.api.compat.conftest import Vendor
from tests.api.conftest import expect_error

TO = "+18135551234"


async def test_add_list_remove(client: httpx.AsyncClient, vendor: Vendor, rival: Vendor) -> None:
    h = vendor.tenant.headers
    r = await client.post(
        "/v1/dnc", json={"number": "(813) 555-1234", "country_code": "US", "reason": "asked"}, headers=h
    )
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["number"] == TO and entry["reason"] == "asked" and entry["source"] == "api"
    again = await client.post("/v1/dnc", json={"number": TO}, headers=h)
    assert again.status_code == 200 and again.json()["id"] == entry["id"]

    listed = (await client.get("/v1/dnc", headers=h)).json()
    assert [e["number"] for e in listed["data"]] == [TO] and listed["pagination"]["total"] == 1
    assert (await client.get("/v1/dnc", headers=rival.tenant.headers)).json()["data"] == []
    expect_error(await client.delete(f"/v1/dnc/{TO}", headers=rival.tenant.headers), 404, "not_found")

    expect_error(await client.post("/v1/dnc", json={"number": "12"}, headers=h), 400, "invalid_phone_number")
    expect_error(
        await client.post("/v1/dnc", json={"number": TO, "reason": "x" * 501}, headers=h),
        400,
        "invalid_request",
    )
    expect_error(await client.post("/v1/dnc", json={"number": TO}), 401, "unauthorized")

    assert (await client.delete(f"/v1/dnc/{TO}", headers=h)).status_code == 204
    expect_error(await client.delete(f"/v1/dnc/{TO}", headers=h), 404, "not_found")
    assert (await client.get("/v1/dnc", headers=h)).json()["data"] == []


async def test_csv_import_reports_bad_lines_and_imports_the_rest(
    client: httpx.AsyncClient, vendor: Vendor
) -> None:
    h = {**vendor.tenant.headers, "Content-Type": "text/csv"}
    await client.patch("/v1/organization", json={"default_country": "US"}, headers=vendor.tenant.headers)
    csv_text = "number,reason\n+18135551234,asked\n(813) 555-0000,\nnot-a-number,x\n+18135551234,dup\n"
    r = await client.post("/v1/dnc/import", content=csv_text.encode(), headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["imported"] == 2 and body["already_listed"] == 0
    assert [(e["line"], e["code"]) for e in body["errors"]] == [(4, "invalid_phone_number")]
    r = await client.post("/v1/dnc/import", content=b"+18135551234\n+18135550000\n+18135550001\n", headers=h)
    assert r.json()["imported"] == 1 and r.json()["already_listed"] == 2
    numbers = {
        e["number"]
        for e in (await client.get("/v1/dnc?limit=100", headers=vendor.tenant.headers)).json()["data"]
    }
    assert numbers == {"+18135551234", "+18135550000", "+18135550001"}
    r = await client.post("/v1/dnc/import", content=b"\xff\xfe bad", headers=h)
    expect_error(r, 400, "invalid_request")


async def test_a_listed_number_is_refused_on_every_surface(client: httpx.AsyncClient, vendor: Vendor) -> None:
    h = vendor.tenant.headers
    await client.post("/v1/dnc", json={"number": TO}, headers=h)
    attempts = [
        client.post("/v1/calls", json={"agent_id": vendor.agent_id, "to_number": TO}, headers=h),
        client.post(f"/v1/agents/{vendor.agent_id}/outbound-calls", json={"to_number": TO}, headers=h),
        client.post(
            "/v1/outbound-calling",
            json={"to_number": TO, "encryption": "UDP/RTP"},
            headers={"X-PolyAi-Auth-Token": vendor.scoped_key},
        ),
        client.post("/v1/call", json={"from_number": vendor.number, "to_number": TO}, headers=h),
    ]
    for pending in attempts:
        expect_error(await pending, 403, "number_on_dnc_list", "to_number")
    r = await client.post(
        "/api/agent/trigger-outbound-call",
        json={"agent_id": vendor.agent_id, "callee_phone": TO, "caller_phone": vendor.number},
        headers={"Authorization": vendor.basic, "x-workspace-id": vendor.tenant.org_id},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "NUMBER_ON_DNC_LIST"
    assert (await client.get("/v1/calls", headers=h)).json()["data"] == []
    # Other numbers still go through.
    ok = await client.post(
        "/v1/calls", json={"agent_id": vendor.agent_id, "to_number": "+18135550000"}, headers=h
    )
    assert ok.status_code == 202
