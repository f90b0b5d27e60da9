"""The agent session on an in-process line with the real offline engines (espeak, pocketsphinx, webrtcvad)."""

from __future__ import annotations

import asyncio
import itertools
import time
import wave
from collections.abc import Callable

import numpy as np

from outdial.agent.brains.intents import NoIntent
from outdial.agent.latency import STAGES
from outdial.agent.settings import AgentConfig
from outdial.lifecycle import EndReason
from tests.agent.conftest import RATE, Call
from tests.agent.flows import APPOINTMENT_AGENT

CallFactory = Callable[..., Call]
VARS = {"first_name": "Ana", "date": "Monday"}


async def test_three_turn_appointment_confirmation(call_factory: CallFactory) -> None:
    call = call_factory(APPOINTMENT_AGENT, variables=VARS)
    await call.answer()
    await call.agent_turn_over(1)
    await call.say("no I can't")
    await call.agent_turn_over(2)
    await call.say("on wednesday")
    await call.agent_turn_over(3)
    await call.say("nine am")
    result = await call.result()

    assert result.end_reason is EndReason.AGENT_HANGUP and call.hangups == [EndReason.AGENT_HANGUP]
    assert result.outcome == {"confirmed": False, "reschedule_to": "Wednesday 9am"}
    turns = [(t.role, t.text) for t in result.transcript]
    # pocketsphinx hears "no i can't", "no i cannot" or "nope" (its CMN adapts across calls): all a no
    assert turns[1][0] == "user" and NoIntent().match(turns[1][1]) is not None
    assert turns[:1] + turns[2:] == [
        ("agent", "Hi Ana, this is Acme Dental about your appointment on Monday. Can you still make it?"),
        ("agent", "What day works better for you?"),
        ("user", "on wednesday"),
        ("agent", "And at what time?"),
        ("user", "nine am"),
        ("agent", "Thanks, I have noted Wednesday at 9am. Goodbye!"),
    ]
    assert all(not t.interrupted for t in result.transcript)
    assert all(a.start_ms <= a.end_ms <= b.start_ms for a, b in itertools.pairwise(result.transcript))
    # every reply to the callee carries its latency stages
    assert len(result.latency) == 3
    for stages in result.latency:
        assert set(STAGES) <= set(stages)
    # the recording: callee left, agent right, both present, as long as the call
    assert result.recording_path is not None
    with wave.open(str(result.recording_path)) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, RATE)
        stereo = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    assert abs(len(stereo) / RATE * 1000 - result.duration_ms) < 200
    voiced = (np.abs(stereo) > 300).sum(axis=0) / RATE
    assert voiced[0] > 1.0 and voiced[1] > 5.0  # seconds of callee speech (left), agent speech (right)


async def test_agent_first_message_goes_out_on_the_first_frame_after_answer(
    call_factory: CallFactory,
) -> None:
    call = call_factory(APPOINTMENT_AGENT, variables=VARS)
    await call.answer()
    await call.until(lambda: bool(call.port.speech_sent_at), within=2)
    assert call.port.first_speech_tick == call.answered_tick + 1  # the very next frame carries speech
    assert call.port.speech_sent_at[0] - call.answered_at <= 0.1  # (20 ms on an idle machine)
    assert call.session.transcript == [] or call.session.transcript[0].role == "agent"


async def test_barge_in_stops_the_agent_within_a_frame_and_keeps_what_was_heard(
    call_factory: CallFactory,
) -> None:
    agent = {
        **APPOINTMENT_AGENT,
        "first_message": (
            "Hi {{first_name}}, this is Acme Dental. We are calling to remind you about your appointment "
            "on {{date}} with doctor Smith, and to tell you about our new opening hours for the winter."
        ),
    }
    call = call_factory(agent, variables=VARS)
    await call.answer()
    await asyncio.sleep(1.5)  # the agent is mid-sentence
    start = time.monotonic()
    await call.say("no I can't")
    await call.agent_turn_over(2)
    result_turns = call.session.transcript

    assert call.port.cleared_at, "the agent was never interrupted"
    cleared = call.port.cleared_at[0]
    barge_ms = AgentConfig(name="x").turn_taking.barge_in_min_speech_ms
    # stopped once the callee had spoken barge_in_min_speech_ms (+ VAD onset), and not a frame later:
    assert cleared - start <= (barge_ms + 200) / 1000
    later = [t for t in call.port.speech_sent_at if t > cleared]
    assert not later or later[0] - cleared >= 0.25  # the next agent audio is the reply, after the endpoint
    first = result_turns[0]
    assert first.role == "agent" and first.interrupted
    # ~1.7 s of a 10 s sentence was heard: its first few whole words, nothing more
    assert first.text.startswith("Hi Ana, this is") and 3 <= len(first.text.split()) <= 9
    assert [t.role for t in result_turns[1:3]] == ["user", "agent"]
    assert NoIntent().match(result_turns[1].text) is not None
    assert result_turns[2].text == "What day works better for you?"


async def test_silence_timeout_reprompts_once_then_says_goodbye_and_hangs_up(
    call_factory: CallFactory,
) -> None:
    call = call_factory({**APPOINTMENT_AGENT, "silence_timeout_seconds": 1.0}, variables=VARS)
    await call.answer()
    result = await call.result(within=25)
    assert result.end_reason is EndReason.SILENCE_TIMEOUT
    assert call.hangups == [EndReason.SILENCE_TIMEOUT] and call.pending_at_hangup == [0.0]
    assert call.agent_texts()[1:] == ["Are you still there? Can you still make it?", "Goodbye!"]
    gaps = [b.start_ms - a.end_ms for a, b in itertools.pairwise(result.transcript)]
    assert all(900 <= g <= 1300 for g in gaps), gaps


async def test_user_first_waits_for_the_callee_to_speak(call_factory: CallFactory) -> None:
    call = call_factory({**APPOINTMENT_AGENT, "speak_order": "user_first"}, variables=VARS)
    await call.answer()
    spoke_until = await call.say("hello")
    await call.until(lambda: bool(call.port.speech_sent_at), within=3)
    first_audio = call.port.speech_sent_at[0]
    assert spoke_until < first_audio < spoke_until + 1.0  # after the greeting, promptly
    await call.agent_turn_over(1)
    assert call.agent_texts()[0].startswith("Hi Ana, this is Acme Dental")


async def test_user_first_greets_after_the_timeout_when_nobody_speaks(call_factory: CallFactory) -> None:
    agent = {
        **APPOINTMENT_AGENT,
        "speak_order": "user_first",
        "turn_taking": {"user_first_greeting_timeout_ms": 800},
    }
    call = call_factory(agent, variables=VARS)
    await call.answer()
    await call.until(lambda: bool(call.port.speech_sent_at), within=3)
    assert 0.78 <= call.port.speech_sent_at[0] - call.answered_at <= 0.9


async def test_dtmf_in_routes_the_flow_and_dtmf_out_reaches_the_line(call_factory: CallFactory) -> None:
    steps = [
        {
            "id": "menu",
            "ask": "Press one to be connected.",
            "intents": [{"name": "connect", "phrases": ["connect me"], "dtmf": "1"}],
            "on": {"connect": "go"},
        },
        {"id": "go", "say": "Connecting.", "dtmf": "42", "end": True},
    ]
    call = call_factory({"first_message": "", "brain": {"type": "flow", "steps": steps}})
    await call.answer()
    await call.agent_turn_over(1)
    call.port.press("1")
    result = await call.result()
    assert call.port.dtmf_sent == ["42"]
    assert [(t.role, t.text) for t in result.transcript] == [
        ("agent", "Press one to be connected."),
        ("user", "[DTMF 1]"),
        ("agent", "Connecting."),
        ("agent", "[DTMF 42]"),
    ]
    assert result.end_reason is EndReason.AGENT_HANGUP


async def test_end_call_lets_the_goodbye_play_out_before_hanging_up(call_factory: CallFactory) -> None:
    steps = [{"say": "Thank you for your time, this is all we needed today. Goodbye!", "end": True}]
    call = call_factory({"first_message": "", "brain": {"type": "flow", "steps": steps}})
    await call.answer()
    result = await call.result()
    assert call.hangups == [EndReason.AGENT_HANGUP] and call.pending_at_hangup == [0.0]
    spoken_s = call.port.speech_sent_at[-1] - call.port.speech_sent_at[0]
    assert spoken_s > 2.5  # the whole sentence, not a clipped start
    assert result.transcript[0].text.endswith("Goodbye!") and not result.transcript[0].interrupted


async def test_max_duration_ends_the_call_with_its_reason(call_factory: CallFactory) -> None:
    call = call_factory({**APPOINTMENT_AGENT}, variables=VARS)
    call.session.agent = call.session.agent.model_copy(update={"max_duration_seconds": 1})
    await call.answer()
    result = await call.result()
    assert result.end_reason is EndReason.MAX_DURATION and call.hangups == [EndReason.MAX_DURATION]
    assert call.agent_texts()[-1] == "Goodbye!"
    assert result.transcript[0].interrupted  # the first message was cut by the limit


async def test_callee_hangup_mid_sentence_closes_the_books_without_a_hangup(
    call_factory: CallFactory,
) -> None:
    call = call_factory(APPOINTMENT_AGENT, variables=VARS)
    await call.answer()
    await asyncio.sleep(1.0)
    result = await call.session.stop(EndReason.CALLEE_HANGUP)
    assert result.end_reason is EndReason.CALLEE_HANGUP and call.hangups == []
    assert result.transcript[0].interrupted and result.transcript[0].text.startswith("Hi Ana")


async def test_llm_brain_session_speaks_the_model_and_runs_its_tools(call_factory: CallFactory) -> None:
    from tests.agent.chat_server import running_chat_server, text, tool_call

    async with running_chat_server() as chat:
        outcome = '{"fields": {"confirmed": true}}'
        chat.replies.append(
            text("Wonderful, see you on Monday. ", "Goodbye!")
            + tool_call(0, "c1", "set_outcome", outcome)
            + tool_call(1, "c2", "end_call", "{}")
        )
        brain = {"type": "llm", "model": "m", "base_url": chat.base_url, "api_key": "test-key"}
        agent = {**APPOINTMENT_AGENT, "first_message": "Hi {{first_name}}, can you make it on Monday?"}
        call = call_factory({**agent, "brain": brain}, variables=VARS, call_context="Cleaning at 9am.")
        await call.answer()
        await call.agent_turn_over(1)
        await call.say("yes I can")
        result = await call.result()

    assert result.end_reason is EndReason.AGENT_HANGUP and result.outcome == {"confirmed": True}
    assert call.agent_texts() == [
        "Hi Ana, can you make it on Monday?",
        "Wonderful, see you on Monday. Goodbye!",
    ]
    messages = chat.requests[0]["messages"]
    assert "Cleaning at 9am." in messages[0]["content"]
    assert messages[1] == {"role": "assistant", "content": "Hi Ana, can you make it on Monday?"}
    assert messages[2]["role"] == "user" and messages[2]["content"]  # whatever free-text STT heard


async def test_a_failing_part_ends_the_call_without_breaking_the_media_line(
    call_factory: CallFactory,
) -> None:
    call = call_factory(APPOINTMENT_AGENT, variables=VARS)
    await call.answer()

    def broken(_frame: bytes) -> float:
        raise RuntimeError("VAD exploded")

    call.session._vad.feed = broken  # type: ignore[method-assign]
    result = await call.result()
    assert result.end_reason is EndReason.INTERNAL_ERROR and call.hangups == [EndReason.INTERNAL_ERROR]


async def test_a_complete_expected_answer_ends_the_turn_before_the_full_hangover(
    call_factory: CallFactory,
) -> None:
    call = call_factory(APPOINTMENT_AGENT, variables=VARS)
    await call.answer()
    await call.agent_turn_over(1)
    await call.say("sure")
    result = await call.result()
    assert result.outcome == {"confirmed": True}
    (stages,) = result.latency
    tt = AgentConfig(name="x").turn_taking
    # "sure" is a whole answer the ask expects: the turn ended after the early hangover
    assert tt.early_endpoint_ms - 20 <= stages["endpoint_wait"] < tt.endpoint_hangover_ms - 100


async def test_a_failing_model_gets_an_apology_and_a_clean_hangup(call_factory: CallFactory) -> None:
    from tests.agent.chat_server import running_chat_server

    async with running_chat_server() as chat:
        brain = {"type": "llm", "model": "m", "base_url": chat.base_url, "api_key": "wrong-key"}  # 401
        turns: list[str] = []
        call = call_factory(
            {**APPOINTMENT_AGENT, "first_message": "", "brain": brain}, on_turn=lambda t: turns.append(t.text)
        )
        await call.answer()
        result = await call.result()
    assert result.end_reason is EndReason.INTERNAL_ERROR and call.hangups == [EndReason.INTERNAL_ERROR]
    assert call.agent_texts() == ["I'm sorry, I'm having technical difficulties. Goodbye!"]
    assert call.pending_at_hangup == [0.0]  # the apology played out before the hangup
    assert turns == call.agent_texts()  # each turn reached the listener as it was added
