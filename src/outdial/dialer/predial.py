"""Rules checked again just before dialing: what was true when a call was accepted may not be now.

A number put on the do-not-call list, a caller number that lost its verification (its trunk moved) or
was removed, or a prepaid balance that ran out: such calls end here, with a reason, and never dial.
Each rule is one query for the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.billing.models import BillingAccount
from outdial.calls.transitions import change_status
from outdial.dnc.models import DncEntry
from outdial.lifecycle import CallStatus, EndReason
from outdial.store.models import Call, PhoneNumber


async def refuse_undialable(session: AsyncSession, calls: Sequence[Call], now: datetime) -> list[Call]:
    """End the calls that may no longer be dialed; return the others, in order."""
    if not calls:
        return []
    listed: set[tuple[str, str]] = set(
        (
            await session.execute(
                select(DncEntry.org_id, DncEntry.number).where(
                    tuple_(DncEntry.org_id, DncEntry.number).in_([(c.org_id, c.to_number) for c in calls])
                )
            )
        ).all()
    )
    numbers = {
        n.id: n
        for n in await session.scalars(
            select(PhoneNumber).where(
                PhoneNumber.id.in_({c.phone_number_id for c in calls if c.phone_number_id})
            )
        )
    }
    broke = set(
        await session.scalars(
            select(BillingAccount.org_id).where(
                BillingAccount.org_id.in_({c.org_id for c in calls}),
                BillingAccount.rate_cents_per_minute.is_not(None),
                BillingAccount.balance_cents <= 0,
            )
        )
    )
    dialable: list[Call] = []
    for call in calls:
        # Every call the API accepts names its caller number; one written straight to the store may not.
        number = numbers.get(call.phone_number_id) if call.phone_number_id else None
        if (call.org_id, call.to_number) in listed:
            _end(
                session,
                call,
                now,
                CallStatus.CANCELED,
                EndReason.CANCELED,
                f"{call.to_number} was put on the do-not-call list after the call was accepted",
            )
        elif call.phone_number_id and (number is None or number.org_id != call.org_id or not number.active):
            _end(
                session,
                call,
                now,
                CallStatus.FAILED,
                EndReason.REJECTED,
                f"the caller number {call.from_number} is no longer a number of this organization",
            )
        elif number is not None and (
            number.kind != "voip" or not number.verified or number.trunk_id != call.trunk_id
        ):
            _end(
                session,
                call,
                now,
                CallStatus.FAILED,
                EndReason.REJECTED,
                f"the caller number {call.from_number} is not verified on its trunk any more; "
                f"verify it with POST /v1/phone-numbers/{number.id}/verify-voip",
            )
        elif call.org_id in broke:
            _end(
                session,
                call,
                now,
                CallStatus.FAILED,
                EndReason.INSUFFICIENT_BALANCE,
                "the prepaid balance ran out before the call was dialed",
            )
        else:
            dialable.append(call)
    return dialable


def _end(
    session: AsyncSession, call: Call, now: datetime, status: CallStatus, reason: EndReason, error: str
) -> None:
    change_status(
        session, call, status, end_reason=reason, at=now, error=error, lease_owner=None, lease_expires_at=None
    )
