"""Rules checked again just before dialing: a call that may no longer be dialed ends, never dials."""

from __future__ import annotations

from sqlalchemy import update

from outdial.billing.models import BillingAccount
from outdial.dialer.worker import Worker
from outdial.dnc.models import DncEntry
from outdial.store.db import Database
from outdial.store.models import PhoneNumber
from tests.dialer.support import (
    ScriptedPlacer,
    fast_settings,
    load,
    make_calls,
    make_org,
    make_trunk,
    running,
    wait_status,
)


async def _number(db: Database, org_id: str, trunk_id: str, **fields: object) -> PhoneNumber:
    async with db.transaction() as s:
        row = PhoneNumber(
            org_id=org_id, number="+12125550100", kind="voip", trunk_id=trunk_id, verified=True, **fields
        )
        s.add(row)
    return row


async def test_calls_that_became_undialable_end_without_dialing(db: Database) -> None:
    org = await make_org(db)
    trunk = await make_trunk(db, org)
    number = await _number(db, org.id, trunk.id)
    [listed] = await make_calls(db, org, trunk=trunk, phone_number_id=number.id, to_number="+12125550111")
    [fine] = await make_calls(db, org, trunk=trunk, phone_number_id=number.id, to_number="+12125550122")
    async with db.transaction() as s:
        s.add(DncEntry(org_id=org.id, number="+12125550111", source="api"))
    placer = ScriptedPlacer()
    async with running(Worker(db, fast_settings(), placer)):
        ended = await wait_status(db, listed.id, "canceled")
        await wait_status(db, fine.id, "completed")
    assert ended.end_reason == "canceled" and "do-not-call" in (ended.error or "")
    assert [p.call.to_number for p in placer.placed] == ["+12125550122"]


async def test_an_unverified_caller_number_or_an_empty_balance_stops_the_dial(db: Database) -> None:
    org = await make_org(db)
    trunk = await make_trunk(db, org)
    number = await _number(db, org.id, trunk.id)
    [unverified] = await make_calls(db, org, trunk=trunk, phone_number_id=number.id)
    async with db.transaction() as s:
        await s.execute(update(PhoneNumber).where(PhoneNumber.id == number.id).values(verified=False))
    placer = ScriptedPlacer()
    async with running(Worker(db, fast_settings(), placer)):
        ended = await wait_status(db, unverified.id, "failed")
        assert ended.end_reason == "rejected" and "verify-voip" in (ended.error or "")

        async with db.transaction() as s:
            await s.execute(update(PhoneNumber).where(PhoneNumber.id == number.id).values(verified=True))
            s.add(
                BillingAccount(
                    org_id=org.id,
                    balance_cents=0,
                    rate_cents_per_minute=5,
                    auto_reload_enabled=False,
                    auto_reload_threshold_cents=0,
                    auto_reload_amount_cents=0,
                    payment={},
                )
            )
        [broke] = await make_calls(db, org, trunk=trunk, phone_number_id=number.id, notify=True)
        ended = await wait_status(db, broke.id, "failed")
    assert ended.end_reason == "insufficient_balance"
    assert placer.placed == []
    assert (await load(db, broke.id)).dialed_at is None
