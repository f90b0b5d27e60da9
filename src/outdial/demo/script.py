"""What the demo says: an appointment-confirmation agent and a callee who answers after two rings."""

from __future__ import annotations

from typing import Any

from outdial.callee import Persona, parse_persona

CALLER_NUMBER = "+14155550100"
CALLEE_NUMBER = "+14155550199"
VARIABLES = {"first_name": "Ana", "date": "Monday"}

# The docs/agents.md example: confirm, or capture a new day and time.
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
    {
        "id": "confirmed",
        "set": {"confirmed": True},
        "say": "Great, see you then. Goodbye!",
        "end": True,
    },
    {
        "id": "rescheduled",
        "set": {"confirmed": False, "reschedule_to": "{{day}} {{time}}"},
        "say": "Thanks, I have noted {{day}} at {{time}}. Goodbye!",
        "end": True,
    },
]

AGENT: dict[str, Any] = {
    "name": "Appointment confirmation (demo)",
    "first_message": "Hi {{first_name}}, this is Acme Dental about your appointment on {{date}}.",
    "input_parameters": [{"name": "first_name", "required": True}, {"name": "date", "required": True}],
    "ring_timeout_seconds": 20,
    "max_duration_seconds": 60,
    "silence_timeout_seconds": 8,
    "record": True,
    "brain": {"type": "flow", "steps": APPOINTMENT_STEPS},
}

# Each reply is a whole phrase the agent expects, with nothing complete before its end: after "no" in
# "no, I can't" a short pause already ends the callee's turn (early endpoint), and the rest barges in.
RESCHEDULE_REPLIES = ["I can't", "how about friday", "two thirty pm"]
CONFIRM_REPLIES = ["yes"]


def persona(*, confirm: bool = False) -> Persona:
    """Ana: picks up after two rings, then confirms or (by default) asks to move to Friday 2:30pm."""
    return parse_persona(
        {
            "name": "Ana",
            "rings": 2,
            "ring_seconds": 1.0,
            "replies": CONFIRM_REPLIES if confirm else RESCHEDULE_REPLIES,
            "agent_silence_ms": 600,
            "reply_delay_ms": 200,
            "max_call_seconds": 90,
            "tts": {"provider": "espeak", "voice": "en-us", "rate": 160},
        }
    )
