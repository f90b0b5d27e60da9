"""Prepaid billing: the ledger, per-minute charges, top-ups and auto-reload through a payment provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from outdial.billing import service
from outdial.billing.models import LedgerEntry
from outdial.billing.providers import PaymentError, StripeProvider
from outdial.config import Settings
from outdial.store.db import Database
from outdial.store.models import Call
from tests.api.compat.conftest import Vendor
from tests.api.compat.stripe_double import DECLINED_METHOD, StripeDouble, running_stripe
from tests.api.conftest import expect_error

TO = "+18135551234"


@pytest.fixture
async def stripe() -> AsyncIterator[StripeDouble]:
    async with running_stripe() as double:
        yield double


def test_billable_minutes_count_every_started_minute() -> None:
    assert [service.billable_minutes(s) for s in (None, 0, 1, 59, 60, 61, 120, 121)] == [
        0,
        0,
        1,
        1,
        1,
        2,
        2,
        3,
    ]


async def test_billing_settings_and_builtin_provider(client: httpx.AsyncClient, vendor: Vendor) -> None:
    h = vendor.tenant.headers
    r = await client.get("/v1/billing", headers=h)
    assert r.status_code == 200
    assert r.json()["enabled"] is False and r.json()["balance_cents"] == 0
    r = await client.patch(
        "/v1/billing",
        json={
            "rate_cents_per_minute": 9,
            "auto_reload": {"enabled": True, "threshold_cents": 500, "amount_cents": 2000},
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["enabled"] is True and body["rate_cents_per_minute"] == 9
    assert body["auto_reload"] == {
        "enabled": True,
        "threshold_cents": 500,
        "amount_cents": 2000,
        "monthly_cap_cents": None,
    }
    expect_error(
        await client.patch("/v1/billing", json={"balance_cents": 100}, headers=h), 400, "invalid_request"
    )
    expect_error(
        await client.patch("/v1/billing", json={"rate_cents_per_minute": -1}, headers=h),
        400,
        "invalid_request",
    )
    expect_error(
        await client.post("/v1/billing/top-up", json={"amount_cents": 99}, headers=h), 400, "invalid_request"
    )
    expect_error(
        await client.post("/v1/billing/top-up", json={"amount_cents": 1000}, headers=h),
        422,
        "payment_method_required",
    )
    # Billing on, balance 0: new calls are refused with 402 on the native API too.
    r = await client.post("/v1/calls", json={"agent_id": vendor.agent_id, "to_number": TO}, headers=h)
    expect_error(r, 402, "insufficient_balance")


async def test_an_ended_call_is_charged_once_by_the_started_minute(
    client: httpx.AsyncClient, vendor: Vendor, db: Database
) -> None:
    h = vendor.tenant.headers
    await client.patch("/v1/billing", json={"rate_cents_per_minute": 9}, headers=h)
    async with db.transaction() as s:
        await service.credit(s, vendor.tenant.org_id, 1000, "welcome")
    r = await client.post("/v1/calls", json={"agent_id": vendor.agent_id, "to_number": TO}, headers=h)
    assert r.status_code == 202, r.text
    call_id = r.json()["id"]
    async with db.transaction() as s:
        await s.execute(update(Call).where(Call.id == call_id).values(duration_seconds=61))
        call = await s.get(Call, call_id)
        assert call is not None
        first = await service.charge_call(s, call)
        second = await service.charge_call(s, call)  # a second ender must not charge again
    assert first is not None and second is None
    assert first.amount_cents == -18 and first.billable_minutes == 2 and first.balance_after_cents == 982
    native = (await client.get(f"/v1/calls/{call_id}", headers=h)).json()
    assert native["cost"] == 18 and native["billable_minutes"] == 2
    tx = (await client.get("/v1/billing/transactions", headers=h)).json()
    assert [(t["kind"], t["amount_cents"]) for t in tx["data"]] == [("call", -18), ("credit", 1000)]
    assert (await client.get("/v1/billing", headers=h)).json()["balance_cents"] == 982


async def test_top_up_and_auto_reload_through_stripe(
    client: httpx.AsyncClient,
    vendor: Vendor,
    db: Database,
    stripe: StripeDouble,
    app,  # type: ignore[no-untyped-def]
) -> None:
    settings: Settings = app.state.settings
    app.state.payment_provider = StripeProvider(stripe.secret_key, api_base=stripe.base_url)
    h = vendor.tenant.headers
    expect_error(
        await client.post("/v1/billing/top-up", json={"amount_cents": 500}, headers=h),
        422,
        "payment_method_required",
    )
    r = await client.patch(
        "/v1/billing",
        json={
            "rate_cents_per_minute": 10,
            "stripe_customer_id": "cus_123",
            "stripe_payment_method_id": "pm_card_visa",
            "auto_reload": {
                "enabled": True,
                "threshold_cents": 100,
                "amount_cents": 700,
                "monthly_cap_cents": 1000,
            },
        },
        headers=h,
    )
    assert r.json()["payment_method_configured"] is True and r.json()["payment_provider"] == "stripe"
    r = await client.post("/v1/billing/top-up", json={"amount_cents": 500}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["balance_cents"] == 500 and r.json()["transaction"]["provider_ref"].startswith("pi_")
    sent = stripe.requests[-1]
    assert sent["form"]["amount"] == "500" and sent["form"]["customer"] == "cus_123"
    assert sent["form"]["confirm"] == "true" and sent["form"]["off_session"] == "true"
    assert sent["idempotency_key"]

    provider = app.state.payment_provider
    async with db.transaction() as s:  # 500 - 450 = 50 <= threshold 100: reload 700
        await service._apply(s, vendor.tenant.org_id, -450, "call", description="test")
    async with db.session() as s:
        entry = await service.maybe_auto_reload(s, vendor.tenant.org_id, provider)
    assert entry is not None and entry.amount_cents == 700 and entry.balance_after_cents == 750
    async with db.transaction() as s:
        await service._apply(s, vendor.tenant.org_id, -700, "call", description="test")
    async with db.session() as s:  # the monthly cap leaves 300 of the 700
        entry = await service.maybe_auto_reload(s, vendor.tenant.org_id, provider)
    assert entry is not None and entry.amount_cents == 300
    async with db.transaction() as s:
        await service._apply(s, vendor.tenant.org_id, -300, "call", description="test")
    async with db.session() as s:
        assert await service.maybe_auto_reload(s, vendor.tenant.org_id, provider) is None  # cap reached
    await client.patch("/v1/billing", json={"stripe_payment_method_id": DECLINED_METHOD}, headers=h)
    expect_error(
        await client.post("/v1/billing/top-up", json={"amount_cents": 500}, headers=h), 402, "payment_failed"
    )
    async with db.session() as s:
        kinds = (
            await s.execute(select(LedgerEntry.kind).where(LedgerEntry.org_id == vendor.tenant.org_id))
        ).scalars()
        assert sorted(kinds) == ["auto_reload", "auto_reload", "call", "call", "call", "top_up"]
    assert settings is not None


async def test_stripe_unreachable_is_a_502(tmp_path: Path) -> None:
    provider = StripeProvider("sk_test_x", api_base="http://127.0.0.1:9")
    with pytest.raises(PaymentError) as info:
        await provider.charge(
            {"stripe_customer_id": "cus_1", "stripe_payment_method_id": "pm_1"},
            100,
            description="x",
            idempotency_key="k",
        )
    assert info.value.status == 502 and info.value.code == "upstream_unavailable"
