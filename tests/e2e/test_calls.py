"""End to end: REST → dialer → SIP → the simulated callee, and back into the call record.

Each test runs a whole outdial on loopback (tests/e2e/harness.py) with SQLite, and a callee persona
that plays one situation: a conversation, busy, no answer, a silent line...
"""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import pytest

from outdial.sip import UserAgent
from outdial.webhooks.signing import sign
from tests.e2e.harness import TO_NUMBER, persona, running_stack
from tests.support.procs import free_port
from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

WEBHOOKS = ["call.queued", "call.ringing", "call.answered", "call.ended"]
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
    async with running_stack(tmp_path, persona(replies=["yes"])) as stack, Receiver() as hooks:
        await stack.provision()
        endpoint = await stack.api(
            "POST", "/v1/webhook-endpoints", 201, json={"url": hooks.url, "events": WEBHOOKS}
        )
        agent = await stack.agent(first_message="Hi, this is Acme Dental.", brain=CONFIRM_FLOW)
        created = await stack.place(agent, metadata={"crm_id": "42"})
        assert created["status"] == "queued"
        call = await stack.wait(created["id"], within=30)
        far = await stack.callee_call()
        await asyncio.wait_for(far.done(), 10)
        events = await stack.events(call["id"])
        transcript = await stack.api("GET", f"/v1/calls/{call['id']}/transcript")
        recording = await stack.http.get(f"/v1/calls/{call['id']}/recording")
        delivered = await hooks.wait_for(4)

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
    assert [role for role, _ in turns] == ["agent", "user", "agent"]  # heard as a yes: see the outcome
    assert turns[-1] == ("agent", "Great. Goodbye!")
    assert any(t.get("latency") for t in transcript["turns"] if t["role"] == "agent")

    assert call["recording_url"] and recording.status_code == 200
    assert recording.headers["content-type"] == "audio/wav" and len(recording.content) > 10_000
    changes = [e for e in events if e.type not in ("transcript.updated", "call.analyzed")]
    assert [e.status for e in changes] == ["queued", "dialing", "ringing", "in_progress", "completed"]
    assert [e.type for e in changes if e.type] == WEBHOOKS
    # Each turn was also announced as it happened (webhook endpoints opt in to transcript.updated).
    announced = [
        (e.data["turn"]["role"], e.data["turn"]["text"]) for e in events if e.type == "transcript.updated"
    ]
    assert announced == turns
    [analyzed] = [e for e in events if e.type == "call.analyzed"]  # the outcome, once the call ended
    assert analyzed.id > changes[-1].id and analyzed.data == {"outcome": {"confirmed": True}}
    bodies = [json.loads(r.body) for r in delivered]
    assert [b["type"] for b in bodies] == WEBHOOKS  # delivered in order, each signed
    assert bodies[-1]["data"]["status"] == "completed" and bodies[-1]["data"]["id"] == call["id"]
    for r in delivered:
        h = r.headers
        expected = sign(endpoint["secret"], h["webhook-id"], int(h["webhook-timestamp"]), r.body)
        assert expected in h["webhook-signature"].split()

    # The far end heard the same call: it rang, was answered, said its one line, and the agent hung up.
    assert (far.outcome, far.dialed.lstrip("+"), far.ended_by) == ("answered", TO_NUMBER[1:], "caller")
    assert [s.text for s in far.said] == ["yes"]
    assert far.recording is not None
    with wave.open(str(far.recording)) as w:
        assert w.getnchannels() == 2 and w.getnframes() > w.getframerate()  # over a second of call


SAY_AND_HANG_UP = {
    "first_message": "Hello, this is a short test call.",
    "brain": {"type": "flow", "steps": [{"say": "Goodbye!", "end": True}]},
}


async def test_busy_callee_ends_the_call_busy(tmp_path: Path) -> None:
    async with running_stack(tmp_path, persona(behaviour="busy")) as stack:
        await stack.provision()
        created = await stack.place(await stack.agent(**SAY_AND_HANG_UP))
        call = await stack.wait(created["id"])
        far = await stack.callee_call()

    assert (call["status"], call["end_reason"], call["sip_status_code"]) == ("busy", "busy", 486)
    assert call["dialed_at"] and call["answered_at"] is None and call["duration_seconds"] in (None, 0)
    assert [a["status"] for a in call["attempts"]] == ["busy"]
    assert far.outcome == "busy"


async def test_unanswered_call_is_canceled_at_the_ring_timeout_and_ends_no_answer(tmp_path: Path) -> None:
    async with running_stack(tmp_path, persona(behaviour="no_answer")) as stack:
        await stack.provision()
        created = await stack.place(await stack.agent(**SAY_AND_HANG_UP), ring_timeout_seconds=5)
        ringing = await stack.wait(created["id"], "ringing", within=10)
        call = await stack.wait(created["id"], within=15)
        far = await stack.callee_call()
        await asyncio.wait_for(far.done(), 5)

    assert ringing["status"] == "ringing"
    assert (call["status"], call["end_reason"]) == ("no_answer", "no_answer")
    assert call["answered_at"] is None
    assert far.outcome == "canceled"  # our CANCEL reached the callee while it rang
    assert far.ended is not None and far.ended.end_reason == "canceled"


@pytest.mark.parametrize("transport", ["tcp", "udp"])
async def test_unreachable_trunk_fails_the_call(tmp_path: Path, transport: str) -> None:
    async with running_stack(tmp_path, persona()) as stack:
        # A trunk that answered when its number was verified, then went away: nothing listens now.
        port = free_port()
        gone = await UserAgent.start("127.0.0.1", port, tcp_port=port)
        try:
            await stack.provision(address=f"127.0.0.1:{port}", transport=transport)
        finally:
            await gone.close()
        created = await stack.place(await stack.agent(**SAY_AND_HANG_UP))
        # Over UDP too the refusal is known at once (ICMP port unreachable), not after timer B's 32 s.
        call = await stack.wait(created["id"], within=20)

    assert call["status"] == "failed"
    assert call["end_reason"] in ("trunk_error", "network_error")
    assert call["error"] and "unreachable" in call["error"] and call["answered_at"] is None
    assert [a["status"] for a in call["attempts"]] == ["failed"]


SENTENCE = "yes I will be there"


async def test_an_answer_longer_than_the_expected_phrase_is_heard_not_silence(tmp_path: Path) -> None:
    # Said at espeak's rate 160, pocketsphinx's grammar search used to end empty on this sentence, and the
    # agent took the callee for silent ("Are you still there?"); the phrase its partials matched now counts.
    callee = persona(replies=[SENTENCE], tts={"provider": "espeak", "voice": "en-us", "rate": 160})
    async with running_stack(tmp_path, callee) as stack:
        await stack.provision()
        agent = await stack.agent(
            first_message="Hi.", brain=CONFIRM_FLOW, silence_timeout_seconds=2, max_duration_seconds=15
        )
        created = await stack.place(agent)
        far = await stack.callee_call()
        await asyncio.wait_for(far.done(), 30)
        call = await stack.wait(created["id"], within=10)
        transcript = await stack.api("GET", f"/v1/calls/{call['id']}/transcript")

    assert [s.text for s in far.said] == [SENTENCE]  # the callee did speak
    roles = [t["role"] for t in transcript["turns"]]
    assert roles[:2] == ["agent", "user"], transcript["turns"]
    assert not any("Are you still there" in t["text"] for t in transcript["turns"])
    assert call["outcome"] == {"confirmed": True}
