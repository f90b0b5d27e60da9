"""verify-voip: a SIP OPTIONS ping to the number's trunk (sipp here) is the only way to verify."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from outdial.sip import UserAgent
from outdial.sip.transaction import Timers
from tests.api.compat.conftest import Vendor
from tests.api.conftest import Seed, expect_error
from tests.sip.sippkit import recv, response, scenario, start_sipp
from tests.support.procs import free_port

TO = "+18135551234"


@pytest.fixture
async def quick_ua(app: FastAPI) -> AsyncIterator[UserAgent]:
    """The process's user agent, with short RFC 3261 timers so that an unanswered ping ends fast."""
    ua = await UserAgent.start("127.0.0.1", 0, timers=Timers(t1=0.05, t2=0.4, t4=0.5))
    app.state.sip_ua = ua
    try:
        yield ua
    finally:
        app.state.sip_ua = None
        await ua.close()


async def test_an_answered_options_ping_verifies_the_number(
    client: httpx.AsyncClient, vendor: Vendor, seed: Seed, tmp_path: Path
) -> None:
    h = vendor.tenant.headers
    sipp = start_sipp(tmp_path, "options", scenario("options", recv("OPTIONS") + response(200, "OK")))
    trunk = (
        await client.post("/v1/sip-trunks", json={"address": sipp.address, "transport": "udp"}, headers=h)
    ).json()
    r = await client.post(
        "/v1/phone-numbers",
        json={"number": "+14155550177", "kind": "voip", "trunk_id": trunk["id"]},
        headers=h,
    )
    assert r.status_code == 201, r.text
    number = r.json()
    assert number["verified"] is False
    body = {"agent_id": vendor.agent_id, "to_number": TO, "from_number": "+14155550177"}
    expect_error(await client.post("/v1/calls", json=body, headers=h), 403, "number_unverified")

    r = await client.post(f"/v1/phone-numbers/{number['id']}/verify-voip", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["verified"] is True and r.json()["id"] == number["id"]
    assert await sipp.finished() == 0
    assert "OPTIONS sip:" in sipp.message_log()
    assert (await client.post("/v1/calls", json=body, headers=h)).status_code == 202

    # Pointing the trunk elsewhere clears the verification: the new address is unproven.
    r = await client.patch(f"/v1/sip-trunks/{trunk['id']}", json={"address": "127.0.0.1:5999"}, headers=h)
    assert r.status_code == 200, r.text
    assert (await client.get(f"/v1/phone-numbers/{number['id']}", headers=h)).json()["verified"] is False
    expect_error(await client.post("/v1/calls", json=body, headers=h), 403, "number_unverified")


async def test_a_silent_trunk_is_a_502_and_leaves_the_number_unverified(
    client: httpx.AsyncClient, vendor: Vendor, quick_ua: UserAgent
) -> None:
    h = vendor.tenant.headers
    trunk = (
        await client.post("/v1/sip-trunks", json={"address": f"127.0.0.1:{free_port('udp')}"}, headers=h)
    ).json()
    number = (
        await client.post(
            "/v1/phone-numbers",
            json={"number": "+14155550178", "kind": "voip", "trunk_id": trunk["id"]},
            headers=h,
        )
    ).json()
    r = await client.post(f"/v1/phone-numbers/{number['id']}/verify-voip", headers=h)
    expect_error(r, 502, "upstream_unavailable")
    assert (await client.get(f"/v1/phone-numbers/{number['id']}", headers=h)).json()["verified"] is False


async def test_demo_numbers_and_other_orgs_numbers_are_not_verified(
    client: httpx.AsyncClient, vendor: Vendor, rival: Vendor, seed: Seed
) -> None:
    demo = await seed.number(vendor.tenant.org_id, "+14155550179", kind="demo", verified=False)
    expect_error(
        await client.post(f"/v1/phone-numbers/{demo}/verify-voip", headers=vendor.tenant.headers),
        400,
        "invalid_request",
    )
    r = await client.post(f"/v1/phone-numbers/{rival.number_id}/verify-voip", headers=vendor.tenant.headers)
    expect_error(r, 404, "not_found")
