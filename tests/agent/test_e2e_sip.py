"""End to end over real SIP/RTP on loopback: our UserAgent calls a callee UAS that speaks back with
espeak; the flow brain on the offline engines holds a three-turn appointment confirmation."""

from __future__ import annotations

import asyncio
import itertools
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from outdial.agent.audio import rms
from outdial.agent.brains.intents import NoIntent
from outdial.agent.protocols import TTS
from outdial.agent.result import SessionResult
from outdial.agent.runtime import build_session
from outdial.callee import SimulatedCallee, parse_persona
from outdial.lifecycle import EndReason
from outdial.media import MediaStream
from outdial.sip import Answered, Ended, TrunkConfig, UserAgent
from outdial.sip.incoming import IncomingCall
from tests.agent.conftest import speech
from tests.agent.flows import APPOINTMENT_AGENT

QUIET_S = 0.6  # the agent has finished a turn when the callee heard nothing for this long


class SpeakingCallee:
    """A UAS that answers, waits for the agent to finish each turn, then says the next answer."""

    def __init__(self, voice: TTS, answers: list[str]) -> None:
        self.voice = voice
        self.answers = answers
        self.heard_speech_at: list[float] = []
        self.done: asyncio.Future[IncomingCall] = asyncio.get_running_loop().create_future()

    def _listen(self, frame: bytes) -> None:
        if rms(frame) > 300:
            self.heard_speech_at.append(time.monotonic())

    async def _agent_finished(self, since: float) -> None:
        while True:
            await asyncio.sleep(0.05)
            heard = [t for t in self.heard_speech_at if t > since]
            if heard and time.monotonic() - heard[-1] > QUIET_S:
                return

    async def on_invite(self, incoming: IncomingCall) -> None:
        try:
            await incoming.ring()
            await asyncio.sleep(0.3)
            media: MediaStream = await incoming.answer()
            media.set_audio_handler(self._listen)
            since = 0.0
            for answer in self.answers:
                await self._agent_finished(since)
                pcm = await speech(self.voice, answer)
                media.write(bytes(media.sample_rate // 10 * 2) + pcm)  # a breath, then the words
                await asyncio.sleep(len(pcm) / 2 / media.sample_rate + 0.2)
                since = time.monotonic()
            await asyncio.wait_for(incoming.wait_ended(), 20)
            self.done.set_result(incoming)
        except Exception as exc:  # surface the callee's failure in the test, not in a log
            if not self.done.done():
                self.done.set_exception(exc)


@pytest.fixture
async def line() -> AsyncIterator[tuple[UserAgent, UserAgent]]:
    callee_ua = await UserAgent.start("127.0.0.1", 0)
    agent_ua = await UserAgent.start("127.0.0.1", 0)
    yield agent_ua, callee_ua
    await agent_ua.close()
    await callee_ua.close()


async def agent_call(agent_ua: UserAgent, address: str, recording_dir: Path) -> SessionResult:
    """Place the call and run the agent on it as the dialer does: prepare while ringing, start on 200."""
    call = await agent_ua.invite(TrunkConfig(address=address), to="+15550100", from_="+15550199")
    assert call.media is not None
    session = build_session(
        APPOINTMENT_AGENT,
        call.media,
        hangup=lambda _reason: call.hangup(),
        recording_dir=recording_dir,
        call_id="e2e",
        variables={"first_name": "Ana", "date": "Monday"},
    )
    prepared = asyncio.create_task(session.prepare())  # while the phone rings
    async for event in call.events():
        if isinstance(event, Answered):
            await prepared
            session.start()
            break
        assert not isinstance(event, Ended), event
    result = await asyncio.wait_for(session.wait(), 40)
    ended = await asyncio.wait_for(call.wait_ended(), 5)
    assert ended.end_reason is EndReason.AGENT_HANGUP  # the agent's BYE after its goodbye
    return result


def check_confirmation(result: SessionResult, recording: Path) -> None:
    assert result.end_reason is EndReason.AGENT_HANGUP
    # the answers were recognized and the outcome extracted
    assert result.outcome == {"confirmed": False, "reschedule_to": "Wednesday 9am"}
    turns = [(t.role, t.text) for t in result.transcript]
    assert [r for r, _ in turns] == ["agent", "user", "agent", "user", "agent", "user", "agent"]
    assert NoIntent().match(turns[1][1]) is not None
    assert [text for _, text in turns[2:]] == [
        "What day works better for you?",
        "on wednesday",
        "And at what time?",
        "nine am",
        "Thanks, I have noted Wednesday at 9am. Goodbye!",
    ]
    assert turns[0][1].startswith("Hi Ana, this is Acme Dental")
    assert not any(t.interrupted for t in result.transcript)
    # the first message started on the first frame after the answer
    assert result.first_audio_ms is not None and result.first_audio_ms <= 60
    # the recording has both channels: the callee left, the agent right, call-long
    assert result.recording_path == recording
    with wave.open(str(recording)) as w:
        assert w.getnchannels() == 2
        stereo = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
        rate = w.getframerate()
    voiced_s = (np.abs(stereo) > 300).sum(axis=0) / rate
    assert voiced_s[0] > 1.0 and voiced_s[1] > 5.0
    # agent turns in the recording line up with the transcript (right channel loud inside them)
    first = result.transcript[0]
    right = np.abs(stereo[int(first.start_ms * rate / 1000) : int(first.end_ms * rate / 1000), 1])
    assert (right > 300).mean() > 0.3


ANSWERS = ["no I can't", "on wednesday", "nine am"]


async def test_three_turn_appointment_confirmation_over_sip_and_rtp(
    line: tuple[UserAgent, UserAgent], tmp_path: Path
) -> None:
    from outdial.agent.tts import make_tts

    agent_ua, callee_ua = line
    voice = make_tts({"provider": "espeak", "rate": 160}, sample_rate=callee_ua.sample_rate)
    callee = SpeakingCallee(voice, ANSWERS)
    callee_ua.on_invite = callee.on_invite
    host, port = callee_ua.address

    result = await agent_call(agent_ua, f"{host}:{port}", tmp_path)
    callee_side = await asyncio.wait_for(callee.done, 5)
    assert callee_side.ended is not None
    check_confirmation(result, tmp_path / "e2e.wav")


async def test_three_turn_appointment_confirmation_with_the_simulated_callee(tmp_path: Path) -> None:
    persona = parse_persona(
        {"rings": 1, "ring_seconds": 0.3, "replies": ANSWERS, "tts": {"provider": "espeak", "rate": 160}}
    )
    agent_ua = await UserAgent.start("127.0.0.1", 0)
    try:
        async with SimulatedCallee.start(persona, record_dir=tmp_path / "callee") as callee:
            result = await agent_call(agent_ua, callee.address, tmp_path)
            heard = await asyncio.wait_for((await callee.wait_call()).done(), 10)
    finally:
        await agent_ua.close()
    check_confirmation(result, tmp_path / "e2e.wav")
    # the callee's side of the books agrees: it said its three answers and the agent hung up on it
    assert [s.text for s in heard.said] == ANSWERS and heard.ended_by == "caller"
    assert heard.recording is not None and heard.recording.exists()


async def test_barge_in_over_rtp_cuts_the_agent_and_keeps_what_was_heard(
    line: tuple[UserAgent, UserAgent], tmp_path: Path
) -> None:
    from outdial.agent.tts import make_tts

    agent_ua, callee_ua = line
    voice = make_tts({"provider": "espeak", "rate": 160}, sample_rate=callee_ua.sample_rate)
    heard: list[float] = []
    interrupted_at: list[float] = []

    async def talk_over(incoming: IncomingCall) -> None:
        media = await incoming.answer()
        media.set_audio_handler(lambda f: heard.append(time.monotonic()) if rms(f) > 300 else None)
        await asyncio.sleep(1.5)  # the agent is mid-sentence
        interrupted_at.append(time.monotonic())
        media.write(await speech(voice, "no I can't"))

    callee_ua.on_invite = talk_over
    host, port = callee_ua.address
    call = await agent_ua.invite(TrunkConfig(address=f"{host}:{port}"), to="+15550100", from_="+15550199")
    assert call.media is not None
    long_hello = (
        "Hi {{first_name}}, this is Acme Dental. We are calling to remind you about your appointment "
        "on {{date}} with doctor Smith, and to tell you about our new opening hours for the winter."
    )
    session = build_session(
        {**APPOINTMENT_AGENT, "first_message": long_hello},
        call.media,
        hangup=lambda _r: call.hangup(),
        variables={"first_name": "Ana", "date": "Monday"},
    )
    await session.prepare()
    async for event in call.events():
        if isinstance(event, Answered):
            session.start()
            break
    await asyncio.sleep(4.5)
    result = await session.stop(EndReason.CALLEE_HANGUP)
    await call.hangup()

    first = result.transcript[0]
    assert first.role == "agent" and first.interrupted
    assert first.text.startswith("Hi Ana, this is") and len(first.text.split()) <= 10
    # the callee stopped hearing the agent soon after it started talking over it
    # (barge-in needs 200 ms of speech; add the jitter buffer and the VAD onset)
    after = [t for t in heard if t > interrupted_at[0]]
    agent_stopped = next(a for a, b in itertools.pairwise(after) if b - a > 0.1)  # then silence
    assert agent_stopped - interrupted_at[0] < 0.4
    assert NoIntent().match(result.transcript[1].text) is not None
    assert result.transcript[2].text == "What day works better for you?"


async def test_dtmf_both_ways_over_rfc_4733(line: tuple[UserAgent, UserAgent]) -> None:
    agent_ua, callee_ua = line
    pressed: list[str] = []
    over = asyncio.get_running_loop().create_future()

    async def press_one(incoming: IncomingCall) -> None:
        media = await incoming.answer()
        media.set_dtmf_handler(pressed.append)
        await asyncio.sleep(2.5)  # while the agent asks
        await media.send_dtmf("1")
        await incoming.wait_ended()
        over.set_result(None)

    callee_ua.on_invite = press_one
    host, port = callee_ua.address
    call = await agent_ua.invite(TrunkConfig(address=f"{host}:{port}"), to="+15550100", from_="+15550199")
    assert call.media is not None
    steps = [
        {
            "id": "menu",
            "ask": "Press one to be connected to the clinic.",
            "intents": [{"name": "connect", "phrases": ["connect me"], "dtmf": "1"}],
            "on": {"connect": "go"},
        },
        {"id": "go", "say": "Connecting.", "dtmf": "42", "end": True},
    ]
    session = build_session(
        {"name": "menu", "first_message": "", "brain": {"type": "flow", "steps": steps}},
        call.media,
        hangup=lambda _r: call.hangup(),
    )
    await session.prepare()
    async for event in call.events():
        if isinstance(event, Answered):
            session.start()
            break
    result = await asyncio.wait_for(session.wait(), 20)
    await asyncio.wait_for(over, 5)
    assert pressed == ["4", "2"]  # the agent's digits, decoded by the callee's RFC 4733 receiver
    assert [(t.role, t.text) for t in result.transcript] == [
        ("agent", "Press one to be connected to the clinic."),
        ("user", "[DTMF 1]"),
        ("agent", "Connecting."),
        ("agent", "[DTMF 42]"),
    ]
    assert result.end_reason is EndReason.AGENT_HANGUP
