"""Agent configs the end-to-end tests place calls with (as POSTed to /v1/agents)."""

from __future__ import annotations

from typing import Any

# An agent that asks and waits, for a callee that says nothing: silence never times out in time. (A
# digit it hears would answer the step and end the flow.)
KEEPS_WAITING: dict[str, Any] = {
    "first_message": "Hello.",
    "silence_timeout_seconds": 60,
    "brain": {"type": "flow", "steps": [{"ask": "Please press one.", "intents": ["digits"], "on": {}}]},
}

# Whatever the callee says, the agent asks again: only the call's own limits can end it. The grammar
# recognizer forces every utterance onto an expected phrase, so a greeting comes back as digits or as
# an opt-out (the e2e callee's "Hello? Yes, this is John speaking." was heard as "two two", "do not
# call me", "two don't call me again"), and a flow's built-in opt-out ends the call itself
# (agent_hangup) unless the step listens for "opt_out" and routes it.
WAITS_WHATEVER_IS_SAID: dict[str, Any] = {
    **KEEPS_WAITING,
    "brain": {
        "type": "flow",
        "steps": [
            {
                "id": "wait",
                "ask": "Please press one.",
                "intents": ["digits", "opt_out"],
                "on": {"digits": "wait", "opt_out": "wait", "default": "wait"},
            }
        ],
    },
}
