"""What a webhook carries: ``{"type", "timestamp", "data"}`` with the whole call object as ``data``.

``data`` is the call record of ``GET /v1/calls/{id}`` (the same serializer), with the metadata you sent
echoed verbatim as ``request_metadata`` and also as ``metadata``; ``status``/``end_reason`` are those
of the event (the call may have moved on since) and ``previous_status`` the one it left.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from outdial.calls.serializers import call_out
from outdial.config import Settings
from outdial.store.models import Call, CallAttempt, CallEvent


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def call_object(call: Call, attempts: Sequence[CallAttempt], settings: Settings) -> dict[str, Any]:
    data = call_out(call, sorted(attempts, key=lambda a: a.number), settings).model_dump(mode="json")
    data["metadata"] = call.request_metadata
    data["request_metadata"] = call.request_metadata  # verbatim, not re-serialized by a model
    return data


def event_payload(
    event: CallEvent, call: Call, attempts: Sequence[CallAttempt], settings: Settings
) -> dict[str, Any]:
    data = call_object(call, attempts, settings)
    data["status"] = event.status
    data["end_reason"] = event.end_reason
    data["previous_status"] = event.from_status
    if event.data:
        data["details"] = event.data
    return {"type": event.type, "timestamp": iso(event.created_at), "data": data}


def minimal_payload(event: CallEvent, call: Call) -> dict[str, Any]:
    """The event without the full call record (when that record cannot be serialized)."""
    data = {
        "id": call.id,
        "status": event.status,
        "end_reason": event.end_reason,
        "previous_status": event.from_status,
        "metadata": call.request_metadata,
        "request_metadata": call.request_metadata,
    }
    return {"type": event.type, "timestamp": iso(event.created_at), "data": data}


def sample_payload(event_type: str, org_id: str, at: datetime) -> dict[str, Any]:
    """What ``POST /v1/webhook-endpoints/{id}/test`` sends: the shape of a real event, marked test."""
    ended = event_type == "call.ended"
    return {
        "type": event_type,
        "timestamp": iso(at),
        "data": {
            "test": True,
            "id": "00000000-0000-4000-8000-000000000000",
            "org_id": org_id,
            "status": "completed" if ended else None,
            "end_reason": "callee_hangup" if ended else None,
            "metadata": {"test": True},
        },
    }
