"""The auto-reloader: a background sweep charges the saved card for accounts under their threshold."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from outdial.billing import service
from outdial.billing.providers import StripeProvider
from outdial.billing.reloader import AutoReloader
from outdial.calls.ended import on_call_ended
from outdial.config import Settings
from outdial.dnc.service import is_listed
from outdial.store.db import Database
from outdial.store.models import Call
from tests.api.compat.conftest import Vendor
from tests.api.compat.stripe_double import DECLINED_METHOD, StripeDouble, running_stripe


@pytest.fixture
async def stripe() -> AsyncIterator[StripeDouble]:
    async with running_stripe() as double:
        yield double


async def test_sweep_reloads_accounts_at_or_under_their_threshold(
    client: httpx.AsyncClient, vendor: Vendor, db: Database, stripe: StripeDouble, settings: Settings
) -> None:
    h = vendor.tenant.headers
    await client.patch(
        "/v1/billing",
        json={
            "rate_cents_per_minute": 10,
            "stripe_customer_id": "cus_9",
            "stripe_payment_method_id": "pm_card_visa",
            "auto_reload": {"enabled": True, "threshold_cents": 200, "amount_cents": 1000},
        },
        headers=h,
    )
    reloader = AutoReloader(
        db, settings, StripeProvider(stripe.secret_key, api_base=stripe.base_url), interval=0.05
    )
    assert await reloader.sweep() == 1  # balance 0 <= 200
    assert (await client.get("/v1/billing", headers=h)).json()["balance_cents"] == 1000
    assert await reloader.sweep() == 0  # now above the threshold
    await client.patch("/v1/billing", json={"stripe_payment_method_id": DECLINED_METHOD}, headers=h)
    async with db.transaction() as s:
        await service._apply(s, vendor.tenant.org_id, -900, "call", description="test")
    assert await reloader.sweep() == 0  # declined: logged, balance unchanged, the loop goes on
    assert (await client.get("/v1/billing", headers=h)).json()["balance_cents"] == 100


async def test_call_end_charges_and_records_an_opt_out(
    client: httpx.AsyncClient, vendor: Vendor, db: Database
) -> None:
    h = vendor.tenant.headers
    await client.patch("/v1/billing", json={"rate_cents_per_minute": 7}, headers=h)
    async with db.transaction() as s:
        await service.credit(s, vendor.tenant.org_id, 500, "start")
    r = await client.post(
        "/v1/calls", json={"agent_id": vendor.agent_id, "to_number": "+18135551234"}, headers=h
    )
    call_id = r.json()["id"]
    async with db.transaction() as s:
        call = await s.get(Call, call_id)
        assert call is not None
        call.duration_seconds = 125
        call.outcome = {"opt_out": True}
        await on_call_ended(s, call)
    async with db.session() as s:
        assert await is_listed(s, vendor.tenant.org_id, "+18135551234")
    entry = (await client.get("/v1/dnc", headers=h)).json()["data"][0]
    assert entry["source"] == "agent" and entry["call_id"] == call_id
    native = (await client.get(f"/v1/calls/{call_id}", headers=h)).json()
    assert native["billable_minutes"] == 3 and native["cost"] == 21
    again = await client.post(
        "/v1/calls", json={"agent_id": vendor.agent_id, "to_number": "+18135551234"}, headers=h
    )
    assert again.status_code == 403 and again.json()["error"]["code"] == "number_on_dnc_list"
