"""Flows shared by the agent tests: the demo's appointment confirmation, without the demo's timings."""

from __future__ import annotations

from typing import Any

from outdial.demo.script import AGENT, APPOINTMENT_STEPS

APPOINTMENT_AGENT: dict[str, Any] = {
    "name": "Appointment confirmation",
    "first_message": AGENT["first_message"],
    "input_parameters": AGENT["input_parameters"],
    "brain": {"type": "flow", "steps": APPOINTMENT_STEPS},
}

__all__ = ["APPOINTMENT_AGENT", "APPOINTMENT_STEPS"]
