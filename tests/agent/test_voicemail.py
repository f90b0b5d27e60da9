"""Answering-machine detection in the agent session, on an in-process line with the offline engines:
a voicemail greeting (espeak) is hung up on, or answered after its beep with the voicemail message;
a person saying hello is a person; with detection off nothing changes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from outdial.lifecycle import EndReason
from tests.agent.conftest import RATE, Call, speech
from tests.agent.flows import APPOINTMENT_AGENT

CallFactory = Callable[..., Call]
VARS = {"first_name": "Ana", "date": "Monday"}
GREETING = "Hi, you have reached Ana and Tom. We cannot take your call right now. Please leave a message."
AMD_AGENT = {**APPOINTMENT_AGENT, "answering_machine_detection": True}


def _beep(seconds: float = 0.4) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 1000.0 * t) * 0.3 * 32767).astype("<i2").tobytes()


def _silence(seconds: float) -> bytes:
    return bytes(2 * int(seconds * RATE))


async def test_a_machine_is_hung_up_on_with_end_reason_voicemail(call_factory: CallFactory) -> None:
    call = call_factory(AMD_AGENT, variables=VARS)
    await call.answer()
    call.port.play(await speech(call.voice, GREETING))
    result = await call.result(within=10)
    assert (result.end_reason, result.answered_by) == (EndReason.VOICEMAIL, "machine")
    assert call.hangups == [EndReason.VOICEMAIL]
    assert result.duration_ms < 4000  # decided on the greeting's shape, not its end


async def test_leave_message_waits_for_the_beep_then_speaks_the_voicemail_message(
    call_factory: CallFactory,
) -> None:
    agent = {
        **AMD_AGENT,
        "voicemail": "leave_message",
        "voicemail_message": "Hi {{first_name}}, Acme Dental here about Monday. Please call us back.",
    }
    call = call_factory(agent, variables=VARS)
    await call.answer()
    call.port.play(await speech(call.voice, GREETING) + _silence(0.3) + _beep() + _silence(0.1))
    beep_over_ms = (await call.port.played() - call.answered_at) * 1000 - 100
    result = await call.result(within=20)

    assert (result.end_reason, result.answered_by) == (EndReason.VOICEMAIL, "machine")
    assert call.hangups == [EndReason.VOICEMAIL]
    message = result.transcript[-1]
    assert (message.role, message.text) == (
        "agent",
        "Hi Ana, Acme Dental here about Monday. Please call us back.",
    )
    assert not message.interrupted
    # after the beep, well before the 2 s quiet fallback would have spoken
    assert beep_over_ms - 60 <= message.start_ms <= beep_over_ms + 1000, (message.start_ms, beep_over_ms)
    # The greeting the agent had begun was cut short when the machine was recognised.
    first = result.transcript[0]
    assert first.role == "agent" and first.interrupted


async def test_leave_message_without_a_beep_speaks_once_the_line_is_quiet(call_factory: CallFactory) -> None:
    call = call_factory({**AMD_AGENT, "voicemail": "leave_message"}, variables=VARS)
    await call.answer()
    call.port.play(await speech(call.voice, GREETING))
    greeting_over_ms = (await call.port.played() - call.answered_at) * 1000
    result = await call.result(within=20)
    assert result.end_reason is EndReason.VOICEMAIL
    message = result.transcript[-1]  # no voicemail_message: the first message is left
    assert message.text == "Hi Ana, this is Acme Dental about your appointment on Monday."
    assert message.start_ms >= greeting_over_ms + 1500


async def test_a_person_saying_hello_is_human_and_the_conversation_goes_on(call_factory: CallFactory) -> None:
    call = call_factory({**AMD_AGENT, "speak_order": "user_first"}, variables=VARS)
    await call.answer()
    await call.say("hello?")
    await call.agent_turn_over(1)  # the verdict came 0.8 s after "hello?", long before the reply ended
    result = await call.session.stop(EndReason.CALLEE_HANGUP)
    assert (result.end_reason, result.answered_by) == (EndReason.CALLEE_HANGUP, "human")
    assert call.hangups == []


async def test_without_detection_a_greeting_is_just_speech(call_factory: CallFactory) -> None:
    call = call_factory(APPOINTMENT_AGENT, variables=VARS)
    await call.answer()
    await call.say(GREETING)
    result = await call.session.stop(EndReason.CALLEE_HANGUP)
    assert (result.end_reason, result.answered_by) == (EndReason.CALLEE_HANGUP, None)
