"""Prepaid billing: the balance, per-minute charges of ended calls, top-ups and auto-reload.

Money is integer cents. Every change of a balance is one atomic ``UPDATE ... RETURNING`` plus one
ledger row in the same transaction, so concurrent charges never lose an update.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.errors import ApiError
from outdial.billing.models import BillingAccount, LedgerEntry
from outdial.billing.providers import PaymentProvider
from outdial.store.db import read_shared
from outdial.store.models import Call
from outdial.store.types import utcnow


async def account(session: AsyncSession, org_id: str) -> BillingAccount:
    """The organization's account, created (billing off, balance 0) on first use."""
    acct = await session.get(BillingAccount, org_id)
    if acct is None:
        acct = BillingAccount(
            org_id=org_id,
            balance_cents=0,
            rate_cents_per_minute=None,
            auto_reload_enabled=False,
            auto_reload_threshold_cents=0,
            auto_reload_amount_cents=0,
            payment={},
        )
        session.add(acct)
        try:
            async with session.begin_nested():
                await session.flush()
        except IntegrityError:  # created concurrently by another request
            acct = await session.get(BillingAccount, org_id, populate_existing=True)
            assert acct is not None
    return acct


async def _apply(
    session: AsyncSession,
    org_id: str,
    amount_cents: int,
    kind: str,
    *,
    description: str,
    call_id: str | None = None,
    billable_minutes: int | None = None,
    provider_ref: str | None = None,
) -> LedgerEntry:
    await account(session, org_id)
    result = await session.execute(
        update(BillingAccount)
        .where(BillingAccount.org_id == org_id)
        .values(balance_cents=BillingAccount.balance_cents + amount_cents, updated_at=utcnow())
        .returning(BillingAccount.balance_cents)
    )
    balance = int(result.scalar_one())
    entry = LedgerEntry(
        org_id=org_id,
        kind=kind,
        amount_cents=amount_cents,
        balance_after_cents=balance,
        call_id=call_id,
        billable_minutes=billable_minutes,
        description=description,
        provider_ref=provider_ref,
    )
    session.add(entry)
    await session.flush()
    acct = await session.get(BillingAccount, org_id)
    if acct is not None:
        await session.refresh(acct)
    return entry


async def credit(session: AsyncSession, org_id: str, amount_cents: int, description: str) -> LedgerEntry:
    """An operator's credit (no payment taken)."""
    if amount_cents <= 0:
        raise ValueError("a credit must be positive")
    return await _apply(session, org_id, amount_cents, "credit", description=description)


async def top_up(
    session: AsyncSession, org_id: str, amount_cents: int, provider: PaymentProvider, *, kind: str = "top_up"
) -> LedgerEntry:
    """Charge ``amount_cents`` through the provider, then add it to the balance."""
    acct = await account(session, org_id)
    charge = await provider.charge(
        dict(acct.payment),
        amount_cents,
        description=f"outdial {kind.replace('_', '-')}",
        idempotency_key=f"outdial-{kind}-{org_id}-{uuid.uuid4()}",
    )
    return await _apply(
        session,
        org_id,
        amount_cents,
        kind,
        description=f"{kind.replace('_', ' ')} via {provider.name}",
        provider_ref=charge.reference,
    )


def billable_minutes(duration_seconds: int | None) -> int:
    """Each started minute of talk counts: ceil(duration / 60); an unanswered call costs nothing."""
    return math.ceil(duration_seconds / 60) if duration_seconds else 0


async def charge_call(session: AsyncSession, call: Call) -> LedgerEntry | None:
    """Charge an ended call once (billing on): sets billable_minutes and cost_cents on the call.

    Only reads the account: billing is on only once a rate was set, which created it.
    """
    acct = await session.get(BillingAccount, call.org_id)
    if acct is None or acct.rate_cents_per_minute is None:
        return None
    minutes = billable_minutes(call.duration_seconds)
    call.billable_minutes = minutes
    call.cost_cents = minutes * acct.rate_cents_per_minute
    if call.cost_cents == 0:
        return None
    existing = await session.execute(
        select(LedgerEntry.id).where(
            LedgerEntry.org_id == call.org_id, LedgerEntry.kind == "call", LedgerEntry.call_id == call.id
        )
    )
    if existing.first() is not None:
        return None
    return await _apply(
        session,
        call.org_id,
        -call.cost_cents,
        "call",
        description=f"{minutes} min to {call.to_number}",
        call_id=call.id,
        billable_minutes=minutes,
    )


async def auto_reload_due(session: AsyncSession, org_id: str, now: datetime | None = None) -> int:
    """Cents to reload now (0: none) under the threshold and the monthly cap."""
    acct = await account(session, org_id)
    if not acct.auto_reload_enabled or acct.auto_reload_amount_cents <= 0:
        return 0
    if acct.balance_cents > acct.auto_reload_threshold_cents:
        return 0
    amount = acct.auto_reload_amount_cents
    if acct.auto_reload_monthly_cap_cents is not None:
        now = now or utcnow()
        month_start = datetime(now.year, now.month, 1, tzinfo=UTC)
        spent = (
            await session.execute(
                select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
                    LedgerEntry.org_id == org_id,
                    LedgerEntry.kind == "auto_reload",
                    LedgerEntry.created_at >= month_start,
                )
            )
        ).scalar_one()
        amount = min(amount, acct.auto_reload_monthly_cap_cents - int(spent))
    return max(0, amount)


async def maybe_auto_reload(
    session: AsyncSession, org_id: str, provider: PaymentProvider
) -> LedgerEntry | None:
    """Reload when enabled and the balance is at or under the threshold; commits on success."""
    amount = await auto_reload_due(session, org_id)
    if amount <= 0:
        return None
    entry = await top_up(session, org_id, amount, provider, kind="auto_reload")
    await session.commit()
    return entry


_accounts = BillingAccount.__table__
# Built once (a Core statement reused with parameters): every call creation runs it.
_RATE_AND_BALANCE = select(_accounts.c.rate_cents_per_minute, _accounts.c.balance_cents).where(
    _accounts.c.org_id == bindparam("org_id")
)


async def refuse_insufficient(session: AsyncSession, call: Call) -> None:
    """Pre-create check: with billing on, a balance at or under zero refuses new calls (402)."""
    # Creations never write the balance: a writer batch reads it once for all its calls.
    rows = await read_shared(session, _RATE_AND_BALANCE, {"org_id": call.org_id})
    acct = rows[0] if rows else None
    if acct is None or acct.rate_cents_per_minute is None:
        return
    if acct.balance_cents <= 0:
        raise ApiError(
            402,
            "insufficient_balance",
            f"The balance is {acct.balance_cents} cents: top up with POST /v1/billing/top-up "
            "or enable auto-reload.",
        )


def account_view(acct: BillingAccount, provider_name: str) -> dict[str, Any]:
    return {
        "enabled": acct.rate_cents_per_minute is not None,
        "balance_cents": acct.balance_cents,
        "rate_cents_per_minute": acct.rate_cents_per_minute,
        "auto_reload": {
            "enabled": acct.auto_reload_enabled,
            "threshold_cents": acct.auto_reload_threshold_cents,
            "amount_cents": acct.auto_reload_amount_cents,
            "monthly_cap_cents": acct.auto_reload_monthly_cap_cents,
        },
        "payment_provider": provider_name,
        "payment_method_configured": bool(
            acct.payment.get("stripe_customer_id") and acct.payment.get("stripe_payment_method_id")
        ),
    }
