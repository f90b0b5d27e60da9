"""End to end, answering-machine detection: the REST API places a call to a simulated voicemail box
(greeting, then a beep) over real SIP/RTP; the agent recognises the machine and hangs up or leaves its
message after the beep, and the call's record says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import persona, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

GREETING = "Hi, you have reached Ana and Tom. We cannot take your call right now. Please leave a message."
MESSAGE = "Hi, this is Acme Dental about your appointment on Monday. Please call us back."
AGENT = {
    "first_message": "Hello, this is Acme Dental calling about your appointment.",
    "answering_machine_detection": True,
    "brain": {
        "type": "flow",
        "steps": [
            {"id": "confirm", "ask": "Can you still make it?", "on": {"yes": "bye", "no": "bye"}},
            {"id": "bye", "say": "Thank you, goodbye!", "end": True},
        ],
    },
}


async def test_a_voicemail_box_gets_the_message_after_its_beep(tmp_path: Path) -> None:
    box = persona(greeting=GREETING, beep_ms=400, max_call_seconds=40)
    async with running_stack(tmp_path, box) as stack:
        await stack.provision()
        agent = await stack.agent(**AGENT, voicemail="leave_message", voicemail_message=MESSAGE)
        created = await stack.place(agent)
        call = await stack.wait(created["id"], within=45)
        transcript = await stack.api("GET", f"/v1/calls/{call['id']}/transcript")
        far = await stack.callee_call()

    assert (call["status"], call["end_reason"], call["answered_by"]) == ("completed", "voicemail", "machine")
    assert far.ended_by == "caller"  # the agent hung up after its message, not the box
    beep = next(s for s in far.said if s.text == "beep")
    last = transcript["turns"][-1]
    assert (last["role"], last["text"]) == ("agent", MESSAGE)
    # The message began after the beep had played (both clocks start at the answer, give or take a frame).
    assert last["start_ms"] >= beep.end_ms - 60, (last, beep)
    assert [a["end_reason"] for a in call["attempts"]] == ["voicemail"]


async def test_a_voicemail_box_is_hung_up_on_by_default(tmp_path: Path) -> None:
    async with running_stack(tmp_path, persona(greeting=GREETING, beep_ms=400)) as stack:
        await stack.provision()
        created = await stack.place(await stack.agent(**AGENT))
        call = await stack.wait(created["id"], within=30)
        far = await stack.callee_call()

    assert (call["status"], call["end_reason"], call["answered_by"]) == ("completed", "voicemail", "machine")
    assert call["duration_seconds"] is not None and call["duration_seconds"] < 5
    assert not any(s.text == "beep" for s in far.said)  # gone before the greeting was over


async def test_a_person_who_says_hello_is_human(tmp_path: Path) -> None:
    callee = persona(greeting="Hello?", replies=["yes"], after_last_reply="hangup")
    async with running_stack(tmp_path, callee) as stack:
        await stack.provision()
        created = await stack.place(await stack.agent(**AGENT))
        call = await stack.wait(created["id"], within=30)

    assert (call["status"], call["answered_by"]) == ("completed", "human")
    assert call["end_reason"] in ("callee_hangup", "agent_hangup")
