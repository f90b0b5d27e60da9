"""Store rows to API records: the 202 answer and the call record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from outdial.calls.repository import AttemptRow, CallRow
from outdial.calls.schemas import CallCreated, CallOut
from outdial.config import Settings
from outdial.store.models import Call, CallAttempt
from outdial.transcripts.links import recording_url


def room_name(call_id: str, agent_id: str | None) -> str:
    return f"agent-{agent_id or 'inline'}-out-{call_id}"


def created(call: Call) -> CallCreated:
    return CallCreated.model_validate(
        {
            "id": call.id,
            "status": call.status,
            "room_name": room_name(call.id, call.agent_id),
            "created_at": call.created_at,
        }
    )


def _attempt_fields(attempt: CallAttempt | AttemptRow) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "status": attempt.status,
        "end_reason": attempt.end_reason,
        "sip_status_code": attempt.sip_status_code,
        "error": attempt.error,
        "dialed_at": attempt.dialed_at,
        "answered_at": attempt.answered_at,
        "ended_at": attempt.ended_at,
    }


def call_out(
    call: Call | CallRow, attempts: Sequence[CallAttempt | AttemptRow], settings: Settings
) -> CallOut:
    """The record of ``call``: an ORM row, or a list row of :data:`repository.LIST_COLUMNS`."""
    return CallOut.model_validate(
        {
            "id": call.id,
            "agent_id": call.agent_id,
            "source": call.source,
            "room_name": room_name(call.id, call.agent_id),
            "to_number": call.to_number,
            "from_number": call.from_number,
            "phone_number_id": call.phone_number_id,
            "status": call.status,
            "end_reason": call.end_reason,
            "answered_by": call.answered_by,
            "request_metadata": call.request_metadata,
            "variables": call.variables or {},
            "call_context": call.call_context,
            "callback_url": call.callback_url,
            "sip_headers": call.sip_headers or {},
            "ring_timeout_seconds": call.ring_timeout_seconds,
            "max_duration_seconds": call.max_duration_seconds,
            "max_hold_seconds": call.max_hold_seconds,
            "retry": call.retry,
            "calling_window": call.calling_window,
            "created_at": call.created_at,
            "scheduled_at": call.scheduled_at,
            "next_attempt_at": call.next_attempt_at,
            "dialed_at": call.dialed_at,
            "answered_at": call.answered_at,
            "ended_at": call.ended_at,
            "duration_seconds": call.duration_seconds,
            "error": call.error,
            "sip_status_code": call.sip_status_code,
            "attempt_count": call.attempt_count,
            "attempts": [_attempt_fields(a) for a in attempts],  # validated with the record, in one pass
            "transcript_id": call.transcript_id,
            "recording_url": recording_url(settings, call),
            "outcome": call.outcome,
            "cost": call.cost_cents,
            "billable_minutes": call.billable_minutes,
            "callback_delivered": call.callback_delivered,
        }
    )
