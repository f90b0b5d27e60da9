"""The simulated callee over real SIP/RTP on loopback, called by our own UAC playing an agent's part."""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from outdial.agent.tts.espeak import EspeakTTS
from outdial.agent.vad.webrtc import WebRtcVAD
from outdial.callee import SimulatedCallee, parse_persona
from outdial.callee.turns import AgentTurns
from outdial.lifecycle import EndReason
from outdial.media import MediaStream
from outdial.sip import Answered, Call, Ringing, Timers, TrunkConfig, UserAgent

pytestmark = pytest.mark.timeout(60)
FAST = Timers(t1=0.05)
SHORT = "Yes, this is John."
LONG = "Thursday at ten in the morning would work much better for me, thank you."


@pytest.fixture
async def caller() -> AsyncIterator[UserAgent]:
    ua = await UserAgent.start(timers=FAST, sample_rate=16000)
    yield ua
    await ua.close()


async def dial(caller: UserAgent, callee: SimulatedCallee, to: str = "100", ring_timeout: float = 45) -> Call:
    trunk = TrunkConfig(address=callee.address)
    return await caller.invite(trunk, to=to, from_="200", ring_timeout=ring_timeout)


def voiced_seconds(pcm: bytes) -> float:
    """From the first to the last loud 20 ms frame."""
    frames = np.frombuffer(pcm[: len(pcm) // 640 * 640], dtype="<i2").astype(float).reshape(-1, 320)
    loud = np.nonzero(np.sqrt((frames**2).mean(axis=1)) > 300)[0]
    return (loud[-1] - loud[0] + 1) * 0.02 if len(loud) else 0.0


class AgentEnd:
    """The caller's side of the media: speaks prompts, hears the callee's turns and digits."""

    def __init__(self, media: MediaStream) -> None:
        self.media = media
        self.vad = WebRtcVAD(media.sample_rate, 2)
        self.turns = AgentTurns(silence_ms=400)
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()
        self.digits: list[str] = []
        self._current = bytearray()
        media.set_audio_handler(self._on_frame)
        media.set_dtmf_handler(self.digits.append)

    def _on_frame(self, frame: bytes) -> None:
        self._current += frame
        if self.turns.feed(self.vad.feed(frame) > 0.5):
            self.replies.put_nowait(bytes(self._current))
            self._current = bytearray()

    async def say(self, text: str) -> None:
        async for chunk in EspeakTTS(rate=200).synthesize(text):
            self.media.write(chunk)
        while self.media.output_pending_ms > 0:  # noqa: ASYNC110 - polling the test's own line
            await asyncio.sleep(0.02)


async def test_the_callee_answers_takes_turns_sends_dtmf_hangs_up_and_records(
    caller: UserAgent, tmp_path: Path
) -> None:
    persona = parse_persona(
        {
            "rings": 1,
            "ring_seconds": 0.3,
            "replies": [SHORT, {"dtmf": "5"}, LONG],
            "after_last_reply": "hangup",
            "hangup_delay_seconds": 0.8,  # the agent end needs 400 ms of silence to close the turn
            "agent_silence_ms": 500,
            "reply_delay_ms": 100,
        }
    )
    async with SimulatedCallee.start(persona, timers=FAST, record_dir=tmp_path) as callee:
        started = time.monotonic()
        call = await dial(caller, callee)
        assert await asyncio.wait_for(call.wait_answered(), 5)
        answered_after = time.monotonic() - started
        assert call.media is not None
        agent = AgentEnd(call.media)

        await agent.say("Hello, this is the clinic. Am I speaking with John?")
        first = await asyncio.wait_for(agent.replies.get(), 10)
        await call.send_dtmf("7")
        await agent.say("Please press five to confirm.")
        async with asyncio.timeout(5):
            while not agent.digits:  # noqa: ASYNC110 - the test's own line
                await asyncio.sleep(0.02)
        await agent.say("When would suit you instead?")
        third = await asyncio.wait_for(agent.replies.get(), 10)
        ended = await asyncio.wait_for(call.wait_ended(), 10)
        record = await asyncio.wait_for(callee.calls[0].done(), 5)

    assert answered_after >= 0.3
    assert [e for e in call._history if isinstance(e, Ringing | Answered)][:2] == [Ringing(180), Answered()]
    # what the agent end heard is the callee's words, in order: one short, one long sentence
    for heard, sentence in [(first, SHORT), (third, LONG)]:
        spoken = b"".join([c async for c in EspeakTTS().synthesize(sentence)])
        assert voiced_seconds(heard) == pytest.approx(voiced_seconds(spoken), rel=0.2)
    assert agent.digits == ["5"]
    assert ended.end_reason == EndReason.CALLEE_HANGUP
    assert record.outcome == "answered" and record.ended_by == "callee"
    assert [s.text for s in record.said] == [SHORT, "dtmf:5", LONG]
    assert record.agent_turns == 3 and record.dtmf_received == ["7"]
    assert record.dialed == "100" and record.caller == "200"
    assert record.recording is not None
    with wave.open(str(record.recording)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 16000)
        audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    callee_ch, agent_ch = audio[:, 0].astype(float), audio[:, 1].astype(float)
    first_said = record.said[0]
    a, b = int(first_said.start_ms * 16), int(first_said.end_ms * 16)
    assert np.abs(callee_ch[a:b]).mean() > 300  # the callee's words on the left...
    assert np.abs(agent_ch[a:b]).mean() < 50  # ...while the agent was quiet on the right
    assert np.abs(agent_ch[: a - 16000]).mean() > 100  # the agent's opening prompt came before


async def test_busy_and_reject_personas_answer_with_their_status(caller: UserAgent) -> None:
    persona = parse_persona(
        {"numbers": {"486": {"behaviour": "busy"}, "403": {"behaviour": "reject", "reject_code": 403}}}
    )
    async with SimulatedCallee.start(persona, timers=FAST) as callee:
        busy = await asyncio.wait_for((await dial(caller, callee, "486")).wait_ended(), 5)
        rejected = await asyncio.wait_for((await dial(caller, callee, "403")).wait_ended(), 5)
    assert (busy.sip_status, busy.end_reason) == (486, EndReason.BUSY)
    assert (rejected.sip_status, rejected.end_reason) == (403, EndReason.REJECTED)
    assert [c.outcome for c in callee.calls] == ["busy", "rejected"]


async def test_no_answer_rings_until_the_caller_gives_up_or_times_out_with_480(caller: UserAgent) -> None:
    persona = parse_persona({"behaviour": "no_answer", "no_answer_seconds": 0.8})
    async with SimulatedCallee.start(persona, timers=FAST) as callee:
        gave_up = await dial(caller, callee, ring_timeout=0.3)
        canceled = await asyncio.wait_for(gave_up.wait_ended(), 5)
        waited = await asyncio.wait_for((await dial(caller, callee)).wait_ended(), 5)
        await asyncio.wait_for(callee.calls[1].done(), 5)
    assert canceled.end_reason == EndReason.NO_ANSWER
    assert (waited.sip_status, waited.end_reason) == (480, EndReason.NO_ANSWER)
    assert [c.outcome for c in callee.calls] == ["canceled", "no_answer"]


async def test_a_greeting_is_spoken_at_once_and_the_caller_hanging_up_ends_the_call(
    caller: UserAgent,
) -> None:
    persona = parse_persona({"ring_seconds": 0, "greeting": "Hello?", "replies": ["Yes."]})
    async with SimulatedCallee.start(persona, timers=FAST) as callee:
        call = await dial(caller, callee)
        assert await asyncio.wait_for(call.wait_answered(), 5)
        assert call.media is not None
        agent = AgentEnd(call.media)
        greeting = await asyncio.wait_for(agent.replies.get(), 5)
        await call.hangup()
        record = await asyncio.wait_for(callee.calls[0].done(), 5)
    assert len(greeting) / 32000 < 2.0  # heard within the first two seconds of the call
    assert [s.text for s in record.said] == ["Hello?"]
    assert record.ended_by == "caller" and record.recording is None
