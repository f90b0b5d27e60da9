"""Cancel at any stage: pending calls end at once; live ones are ended by the worker that owns them."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from outdial.calls.transitions import change_status
from outdial.dialer.models import CancelRequest
from outdial.dialer.notify import notify_cancel
from outdial.lifecycle import ACTIVE, PENDING, CallStatus, EndReason
from outdial.store.models import Call
from outdial.store.types import utcnow


class CancelOutcome(StrEnum):
    CANCELED = "canceled"  # was queued/scheduled: now canceled
    REQUESTED = "requested"  # live: its worker sends CANCEL or BYE, then the call is canceled
    ALREADY_ENDED = "already_ended"  # terminal: nothing to do (the API answers 409)


async def request_cancel(session: AsyncSession, call: Call) -> CancelOutcome:
    """Cancel ``call`` inside the caller's transaction (the caller commits).

    The row is re-read under a lock first, so a worker admitting the call at the same instant either
    sees ``canceled`` or has already committed ``dialing`` (and then gets the request).
    """
    await session.refresh(call, with_for_update=True)
    status = CallStatus(call.status)
    if status in PENDING:
        change_status(
            session,
            call,
            CallStatus.CANCELED,
            end_reason=EndReason.CANCELED,
            lease_owner=None,
            lease_expires_at=None,
        )
        return CancelOutcome.CANCELED
    if status in ACTIVE:
        if await session.get(CancelRequest, call.id) is None:
            session.add(CancelRequest(call_id=call.id, requested_at=utcnow()))
        await notify_cancel(session, call.id)
        return CancelOutcome.REQUESTED
    return CancelOutcome.ALREADY_ENDED
