"""End to end: REST → dialer → SIP → the simulated callee, and back into the call record.

Each test runs a whole outdial on loopback (tests/e2e/harness.py) with SQLite, and a callee persona
that plays one situation: a conversation, busy, no answer, a silent line...
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from tests.e2e.harness import TO_NUMBER, persona, running_stack

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

CONFIRM_FLOW = {
    "type": "flow",
    "steps": [
        {"id": "confirm", "ask": "Can you make it?", "on": {"yes": "yes", "no": "no"}},
        {"id": "yes", "set": {"confirmed": True}, "say": "Great. Goodbye!", "end": True},
        {"id": "no", "set": {"confirmed": False}, "say": "Okay. Goodbye!", "end": True},
    ],
}


async def test_completed_call_has_transcript_outcome_recording_timings_attempts_and_events(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path, persona(replies=["yes"])) as stack:
        await stack.provision()
        agent = await stack.agent(first_message="Hi, this is Acme Dental.", brain=CONFIRM_FLOW)
        created = await stack.place(agent, metadata={"crm_id": "42"})
        assert created["status"] == "queued"
        call = await stack.wait(created["id"], within=30)
        far = await stack.callee_call()
        await asyncio.wait_for(far.done(), 10)
        events = await stack.events(call["id"])
        transcript = await stack.api("GET", f"/v1/calls/{call['id']}/transcript")
        recording = await stack.http.get(f"/v1/calls/{call['id']}/recording")

    assert (call["status"], call["end_reason"], call["sip_status_code"]) == ("completed", "agent_hangup", 200)
    assert call["outcome"] == {"confirmed": True}
    assert call["request_metadata"] == {"crm_id": "42"}
    assert call["dialed_at"] <= call["answered_at"] <= call["ended_at"]
    assert call["duration_seconds"] is not None and 1 <= call["duration_seconds"] <= 15
    [attempt] = call["attempts"]
    assert (attempt["number"], attempt["status"], attempt["end_reason"]) == (1, "completed", "agent_hangup")
    assert call["attempt_count"] == 1 and call["transcript_id"] == transcript["id"]

    turns = [(t["role"], t["text"]) for t in transcript["turns"]]
    assert turns[0] == ("agent", "Hi, this is Acme Dental. Can you make it?")
    assert ("user", "yes") in turns
    assert turns[-1] == ("agent", "Great. Goodbye!")
    assert any(t.get("latency") for t in transcript["turns"] if t["role"] == "agent")

    assert call["recording_url"] and recording.status_code == 200
    assert recording.headers["content-type"] == "audio/wav" and len(recording.content) > 10_000
    assert [e.status for e in events] == ["queued", "dialing", "ringing", "in_progress", "completed"]
    assert [e.type for e in events if e.type] == ["call.queued", "call.ringing", "call.answered", "call.ended"]

    # The far end heard the same call: it rang, was answered, said its one line, and the agent hung up.
    assert (far.outcome, far.dialed.lstrip("+"), far.ended_by) == ("answered", TO_NUMBER[1:], "caller")
    assert [s.text for s in far.said] == ["yes"]
    assert far.recording is not None
    with wave.open(str(far.recording)) as w:
        assert w.getnchannels() == 2 and w.getnframes() > w.getframerate()  # over a second of call
