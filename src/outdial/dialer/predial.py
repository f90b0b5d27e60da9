"""Rules checked again just before dialing: what was true when a call was accepted may not be now.

A number put on the do-not-call list, a caller number that lost its verification (its trunk moved) or
was removed, or a prepaid balance that ran out: such calls end here, with a reason, and never dial.
The facts the rules need are read by the query that claims the calls (no query of their own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.billing.models import BillingAccount
from outdial.calls.transitions import change_status
from outdial.dnc.models import DncEntry
from outdial.lifecycle import CallStatus, EndReason
from outdial.store.models import Call, PhoneNumber


@dataclass(frozen=True, slots=True)
class DialFacts:
    """What the rules need about one call, read in the query that claims it (see :func:`with_facts`)."""

    listed: bool  # its number is on the org's do-not-call list
    broke: bool  # billing on and the prepaid balance at or under zero
    number: PhoneNumber | None  # its caller number's row


def with_facts(query: Any) -> Any:
    """``query`` (a select of ``Call``) with three more columns: ``listed``, ``broke``, the PhoneNumber."""
    listed = exists().where(DncEntry.org_id == Call.org_id, DncEntry.number == Call.to_number)
    broke = exists().where(
        BillingAccount.org_id == Call.org_id,
        BillingAccount.rate_cents_per_minute.is_not(None),
        BillingAccount.balance_cents <= 0,
    )
    return query.add_columns(listed.label("listed"), broke.label("broke"), PhoneNumber).outerjoin(
        PhoneNumber, PhoneNumber.id == Call.phone_number_id
    )


def facts(row: Any) -> DialFacts:
    """The facts of one row of a :func:`with_facts` query."""
    return DialFacts(listed=bool(row.listed), broke=bool(row.broke), number=row.PhoneNumber)


def refuse_undialable(
    session: AsyncSession, calls: Sequence[tuple[Call, DialFacts]], now: datetime
) -> list[Call]:
    """End the calls that may no longer be dialed; return the others, in order."""
    dialable: list[Call] = []
    for call, fact in calls:
        # Every call the API accepts names its caller number; one written straight to the store may not.
        number = fact.number if call.phone_number_id else None
        if fact.listed:
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
        elif fact.broke:
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
