"""OpenAPI examples for the calls routes (requests and responses, as a client sees them)."""

from __future__ import annotations

from typing import Any

AGENT_ID = "123e4567-e89b-12d3-a456-426614174000"
CALL_ID = "0fc6daf8-7251-4553-9488-867ba0b82d8e"

CREATE_MINIMAL: dict[str, Any] = {
    "agent_id": AGENT_ID,
    "to_number": "+18135551234",
    "call_context": "You are calling John to confirm his appointment tomorrow at 2pm.",
    "metadata": {"crm_id": "123"},
    "callback_url": "https://your-system.com/outdial/call-result",
}

CREATE_FULL: dict[str, Any] = {
    "agent_id": AGENT_ID,
    "to_number": "(813) 555-1234",
    "country_code": "US",
    "from_number": "+14155550100",
    "call_context": "Confirm the appointment; offer Thursday 10am if tomorrow does not suit.",
    "variables": {"first_name": "John"},
    "metadata": {"crm_id": "123", "campaign": "reminders-11"},
    "callback_url": "https://your-system.com/outdial/call-result",
    "scheduled_at": "2026-12-01T15:00:00Z",
    "ring_timeout_seconds": 30,
    "max_duration_seconds": 300,
    "retry": {"max_attempts": 3, "on": ["no_answer", "busy"], "delay_seconds": 600, "backoff": 2.0},
    "calling_window": {"start": "09:00", "end": "18:00", "days": ["mon", "tue", "wed", "thu", "fri"]},
    "sip_headers": {"X-Campaign": "reminders-11"},
}

CREATE_INLINE_AGENT: dict[str, Any] = {
    "agent": {
        "name": "One-off survey",
        "prompt": "Ask the callee one question: how satisfied were they with yesterday's delivery (1-5)?",
        "first_message": "Hi! This is Acme with a ten-second question about your delivery.",
    },
    "to_number": "+447911123456",
    "from_number": "+14155550100",
}

CREATE_EXAMPLES: dict[str, Any] = {
    "minimal": {"summary": "Queue a call now", "value": CREATE_MINIMAL},
    "full": {"summary": "Every option: schedule, retry, calling window", "value": CREATE_FULL},
    "inline_agent": {"summary": "An inline agent", "value": CREATE_INLINE_AGENT},
}

CREATED: dict[str, Any] = {
    "id": CALL_ID,
    "status": "queued",
    "room_name": f"agent-{AGENT_ID}-out-{CALL_ID}",
    "created_at": "2026-06-11T12:49:28.898751Z",
}

CALL: dict[str, Any] = {
    "id": CALL_ID,
    "agent_id": AGENT_ID,
    "source": "native",
    "room_name": f"agent-{AGENT_ID}-out-{CALL_ID}",
    "to_number": "+18135551234",
    "from_number": "+14155550100",
    "phone_number_id": "a3b4c5d6-7e8f-4a0b-9c1d-2e3f4a5b6c7d",
    "status": "completed",
    "end_reason": "callee_hangup",
    "answered_by": "human",
    "request_metadata": {"crm_id": "123"},
    "variables": {"first_name": "John"},
    "call_context": "You are calling John to confirm his appointment tomorrow at 2pm.",
    "callback_url": "https://your-system.com/outdial/call-result",
    "sip_headers": {},
    "ring_timeout_seconds": 45,
    "max_duration_seconds": 600,
    "max_hold_seconds": None,
    "retry": None,
    "calling_window": None,
    "created_at": "2026-06-11T12:49:28.898751Z",
    "scheduled_at": None,
    "next_attempt_at": None,
    "dialed_at": "2026-06-11T12:49:30.101200Z",
    "answered_at": "2026-06-11T12:50:03.843960Z",
    "ended_at": "2026-06-11T12:54:15.354244Z",
    "duration_seconds": 251,
    "error": None,
    "sip_status_code": 200,
    "attempt_count": 1,
    "attempts": [
        {
            "number": 1,
            "status": "completed",
            "end_reason": "callee_hangup",
            "sip_status_code": 200,
            "error": None,
            "dialed_at": "2026-06-11T12:49:30.101200Z",
            "answered_at": "2026-06-11T12:50:03.843960Z",
            "ended_at": "2026-06-11T12:54:15.354244Z",
        }
    ],
    "transcript_id": "de79aee6-ae41-4003-a3f4-ba9d77b59bd8",
    "recording_url": f"https://outdial.example.com/v1/recordings/{CALL_ID}?expires=1781186055&signature=9f2c",
    "outcome": {"confirmed": True},
    "cost": 10,
    "billable_minutes": 5,
    "callback_delivered": True,
}

PAGE: dict[str, Any] = {
    "data": [CALL],
    "pagination": {"page": 1, "limit": 50, "total": 1, "totalPages": 1, "hasNext": False, "hasPrev": False},
}

CANCELED: dict[str, Any] = {
    **CALL,
    "status": "canceled",
    "end_reason": "canceled",
    "answered_by": None,
    "dialed_at": None,
    "answered_at": None,
    "ended_at": "2026-06-11T12:49:40.000000Z",
    "duration_seconds": None,
    "sip_status_code": None,
    "attempt_count": 0,
    "attempts": [],
    "transcript_id": None,
    "recording_url": None,
    "outcome": None,
    "cost": None,
    "billable_minutes": None,
    "callback_delivered": False,
}
