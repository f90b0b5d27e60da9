"""Flows shared by the agent tests: the appointment confirmation of docs/agents.md."""

from __future__ import annotations

from typing import Any

APPOINTMENT_STEPS: list[dict[str, Any]] = [
    {"id": "confirm", "ask": "Can you still make it?", "on": {"yes": "confirmed", "no": "day"}},
    {
        "id": "day",
        "ask": "What day works better for you?",
        "intents": ["date"],
        "capture": "day",
        "on": {"date": "time"},
    },
    {
        "id": "time",
        "ask": "And at what time?",
        "intents": ["time"],
        "capture": "time",
        "on": {"time": "rescheduled"},
    },
    {"id": "confirmed", "set": {"confirmed": True}, "say": "Great, see you then. Goodbye!", "end": True},
    {
        "id": "rescheduled",
        "set": {"confirmed": False, "reschedule_to": "{{day}} {{time}}"},
        "say": "Thanks, I have noted {{day}} at {{time}}. Goodbye!",
        "end": True,
    },
]

APPOINTMENT_AGENT: dict[str, Any] = {
    "name": "Appointment confirmation",
    "first_message": "Hi {{first_name}}, this is Acme Dental about your appointment on {{date}}.",
    "input_parameters": [{"name": "first_name", "required": True}, {"name": "date", "required": True}],
    "brain": {"type": "flow", "steps": APPOINTMENT_STEPS},
}
