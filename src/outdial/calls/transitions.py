"""The only way a call's status changes: checked against the lifecycle table, logged in call_events.

The event row is written in the caller's transaction, so a status change and its webhook outbox
entry commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from outdial.lifecycle import EVENT_FOR_STATUS, CallStatus, EndReason, EventType, transition
from outdial.store.models import Call, CallEvent
from outdial.store.types import utcnow


def record_event(
    session: AsyncSession,
    call: Call,
    type_: EventType | None,
    *,
    data: dict[str, Any] | None = None,
    from_status: str | None = None,
    at: datetime | None = None,
) -> CallEvent:
    """Append one event for ``call`` (status unchanged or already changed) to the outbox."""
    ev = CallEvent(
        org_id=call.org_id,
        call_id=call.id,
        type=type_.value if type_ else None,
        from_status=from_status,
        status=call.status,
        end_reason=call.end_reason,
        data=data or {},
        created_at=at or utcnow(),
    )
    session.add(ev)
    return ev


def change_status(
    session: AsyncSession,
    call: Call,
    new: CallStatus,
    *,
    end_reason: EndReason | None = None,
    at: datetime | None = None,
    event_type: EventType | None = None,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> CallEvent:
    """Move ``call`` to ``new`` (raising on an illegal move), set ``fields``, and log the event.

    ``event_type`` overrides the event the table names for ``new`` (e.g. call.retry_scheduled).
    Terminal statuses set ``ended_at`` (when not given) and ``duration_seconds`` from the answer.
    """
    now = at or utcnow()
    previous = call.status
    status = transition(previous, new, end_reason)
    call.status = status.value
    call.end_reason = end_reason.value if end_reason else None
    for name, value in fields.items():
        if not hasattr(Call, name):
            raise AttributeError(f"Call has no field {name!r}")
        setattr(call, name, value)
    if status is CallStatus.DIALING and call.dialed_at is None:
        call.dialed_at = now
    if status is CallStatus.IN_PROGRESS and call.answered_at is None:
        call.answered_at = now
    if end_reason is not None:
        if call.ended_at is None:
            call.ended_at = now
        if call.answered_at is not None and call.duration_seconds is None:
            call.duration_seconds = max(0, round((call.ended_at - call.answered_at).total_seconds()))
    call.updated_at = now
    etype = event_type if event_type is not None else EVENT_FOR_STATUS[status]
    return record_event(session, call, etype, data=data, from_status=previous, at=now)
