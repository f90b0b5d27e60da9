"""The simulated callee: a SIP endpoint (our UAS) that answers per persona, talks back through TTS when the
agent stops talking (VAD on the agent's audio), and records each call as a stereo WAV.

    async with SimulatedCallee.start(persona, host="127.0.0.1", port=0) as callee:
        ...  # point a trunk at callee.address and place a call
        call = await callee.wait_call()
        await call.done()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from outdial.agent.protocols import TTS, VAD
from outdial.agent.recording import StereoRecorder
from outdial.agent.tts import make_tts
from outdial.agent.vad import make_vad
from outdial.callee.persona import Persona, Reply
from outdial.callee.turns import AgentTurns
from outdial.lifecycle import EndReason
from outdial.media import MediaStream
from outdial.sip import Dtmf, Ended, IncomingCall, SipError, Timers, UserAgent

log = logging.getLogger(__name__)

Outcome = Literal["ringing", "answered", "busy", "rejected", "no_answer", "canceled"]


@dataclass(slots=True)
class Said:
    text: str  # the words, or "dtmf:<digits>"
    start_ms: float  # since the answer
    end_ms: float


@dataclass
class CalleeCall:
    """One call the simulated callee received, filled in as it happens."""

    index: int
    sip_call_id: str
    caller: str
    dialed: str
    persona: Persona
    outcome: Outcome = "ringing"
    invited_at: float = field(default_factory=time.monotonic)
    answered_at: float | None = None
    ended: Ended | None = None
    ended_by: Literal["callee", "caller", ""] = ""
    said: list[Said] = field(default_factory=list)  # the callee's turns, in order
    agent_turns: int = 0  # times the agent talked and then stopped
    dtmf_received: list[str] = field(default_factory=list)
    recording: Path | None = None
    _finished: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    async def done(self) -> CalleeCall:
        """Wait until the call has ended and its recording is written."""
        await self._finished.wait()
        return self

    @property
    def finished(self) -> bool:
        return self._finished.is_set()


class SimulatedCallee:
    def __init__(self, persona: Persona, ua: UserAgent, record_dir: Path | None) -> None:
        self.persona = persona
        self.ua = ua
        self.record_dir = record_dir
        self.calls: list[CalleeCall] = []
        self._new_call = asyncio.Event()
        ua.on_invite = self._on_invite

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        persona: Persona,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        record_dir: str | Path | None = None,
        sample_rate: int = 16000,
        timers: Timers | None = None,
    ) -> AsyncIterator[SimulatedCallee]:
        """Listen for INVITEs on UDP host:port (0: a free port) until the block exits."""
        ua = await UserAgent.start(
            host, port, timers=timers, sample_rate=sample_rate, user_agent="outdial-callee"
        )
        callee = cls(persona, ua, Path(record_dir) if record_dir is not None else None)
        try:
            yield callee
        finally:
            await ua.close()
            for call in callee.calls:
                call._finished.set()

    @property
    def host(self) -> str:
        return self.ua.address[0]

    @property
    def port(self) -> int:
        return self.ua.address[1]

    @property
    def address(self) -> str:
        """``host:port``, as a trunk address."""
        return f"{self.host}:{self.port}"

    async def wait_call(self, index: int = 0) -> CalleeCall:
        """The ``index``-th call received, once its INVITE has arrived."""
        while len(self.calls) <= index:
            self._new_call.clear()
            await self._new_call.wait()
        return self.calls[index]

    # -- one call ---------------------------------------------------------------------------------
    async def _on_invite(self, incoming: IncomingCall) -> None:
        persona = self.persona.for_number(incoming.callee)
        call = CalleeCall(len(self.calls), incoming.sip_call_id, incoming.caller, incoming.callee, persona)
        self.calls.append(call)
        self._new_call.set()
        try:
            await self._handle(call, incoming, persona)
        finally:
            call.ended = incoming.ended
            call._finished.set()

    async def _handle(self, call: CalleeCall, incoming: IncomingCall, persona: Persona) -> None:
        if persona.behaviour == "busy":
            call.outcome = "busy"
            await incoming.reject(486)
            return
        if persona.behaviour == "reject":
            call.outcome = "rejected"
            await incoming.reject(persona.reject_code)
            return
        await incoming.ring()
        ring_for = persona.rings * persona.ring_seconds
        if persona.behaviour == "no_answer":
            ring_for = persona.no_answer_seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(incoming.wait_ended(), ring_for)
        if incoming.ended is not None:
            call.outcome = "canceled"
            return
        if persona.behaviour == "no_answer":
            call.outcome = "no_answer"
            await incoming.reject(480)
            return
        try:
            media = await incoming.answer()
        except SipError as exc:
            call.outcome = "canceled"
            log.info("simulated callee could not answer %s: %s", call.sip_call_id, exc)
            return
        call.outcome = "answered"
        call.answered_at = time.monotonic()
        conversation = _Conversation(call, incoming, media, persona, self.record_dir)
        await conversation.run()


class _Conversation:
    """The answered call: listen to the agent, take turns, record."""

    def __init__(
        self,
        call: CalleeCall,
        incoming: IncomingCall,
        media: MediaStream,
        persona: Persona,
        record_dir: Path | None,
    ) -> None:
        self.call = call
        self.incoming = incoming
        self.media = media
        self.persona = persona
        self.rate = media.sample_rate
        self.tts: TTS = make_tts(persona.tts, sample_rate=self.rate)
        self.vad: VAD = make_vad({"provider": "webrtc", "aggressiveness": 2}, sample_rate=self.rate)
        self.turns = AgentTurns(silence_ms=persona.agent_silence_ms)
        self.turn_ended = asyncio.Event()
        self.speaking = False
        self.drained = asyncio.Event()  # all of our written speech has gone out
        self.t0 = time.monotonic()
        self.recorder: StereoRecorder | None = None
        if record_dir is not None:
            name = f"callee-{call.index}-{call.sip_call_id.split('@')[0]}.wav"
            self.recorder = StereoRecorder(record_dir / name, self.rate)

    def _now_ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000

    # media callbacks: one agent frame every 20 ms, each frame of our own speech as it is sent
    def _on_agent_audio(self, frame: bytes) -> None:
        if self.recorder:
            self.recorder.agent(frame, self._now_ms())
        if self.turns.feed(self.vad.feed(frame) > 0.5):
            self.call.agent_turns += 1
            if not self.speaking:
                self.turn_ended.set()

    def _on_sent(self, frame: bytes) -> None:
        if self.recorder:
            self.recorder.callee(frame, self._now_ms())
        if self.media.output_pending_ms == 0:
            self.drained.set()

    def _on_dtmf(self, digit: str) -> None:
        self.call.dtmf_received.append(digit)

    async def _sip_dtmf(self) -> None:
        async for event in self.incoming.events():
            if isinstance(event, Dtmf):
                self._on_dtmf(event.digit)

    async def run(self) -> None:
        self.media.set_audio_handler(self._on_agent_audio)
        self.media.set_sent_handler(self._on_sent)
        self.media.set_dtmf_handler(self._on_dtmf)
        info_dtmf = asyncio.create_task(self._sip_dtmf())
        talk = asyncio.create_task(self._talk())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.incoming.wait_ended(), self.persona.max_call_seconds)
            if self.incoming.ended is None:
                await self.incoming.hangup()
        finally:
            for task in (talk, info_dtmf):
                task.cancel()
            for outcome in await asyncio.gather(talk, info_dtmf, return_exceptions=True):
                if isinstance(outcome, Exception):  # e.g. a TTS failure: say so, the call still ends
                    log.warning("simulated callee %s: %r", self.call.sip_call_id, outcome)
            self.media.set_audio_handler(None)
            self.media.set_sent_handler(None)
            ended = self.incoming.ended
            self.call.ended = ended
            # AGENT_HANGUP is the SIP layer's "we hung up" — here "we" is the callee.
            ours = ended is not None and ended.end_reason == EndReason.AGENT_HANGUP
            self.call.ended_by = "callee" if ours else "caller"
            if self.recorder:
                self.call.recording = self.recorder.close()

    async def _talk(self) -> None:
        if self.persona.greeting:
            await self._say(Reply(say=self.persona.greeting))
        if self.persona.beep_ms:
            await self._beep(self.persona.beep_ms)
        replies = list(self.persona.replies)
        for i, reply in enumerate(replies):
            self.turn_ended.clear()
            await self.turn_ended.wait()
            await asyncio.sleep(self.persona.reply_delay_ms / 1000)
            await self._say(reply)
            if i == len(replies) - 1 and self.persona.after_last_reply == "hangup":
                await asyncio.sleep(self.persona.hangup_delay_seconds)
                await self.incoming.hangup()

    async def _beep(self, ms: int) -> None:
        """A voicemail system's record tone: 1 kHz, logged as said "beep"."""
        t = np.arange(self.rate * ms // 1000) / self.rate
        tone = (np.sin(2 * np.pi * 1000.0 * t) * 0.3 * 32767).astype("<i2").tobytes()
        start = self._now_ms()
        self.drained.clear()
        self.media.write(tone)
        await self.drained.wait()
        self.call.said.append(Said("beep", start, self._now_ms()))

    async def _say(self, reply: Reply) -> None:
        if reply.silent:
            return
        self.speaking = True
        start = self._now_ms()
        try:
            if reply.dtmf:
                await self.media.send_dtmf(reply.dtmf)
                self.call.said.append(Said(f"dtmf:{reply.dtmf}", start, self._now_ms()))
                return
            assert reply.say is not None
            self.drained.clear()
            async for chunk in self.tts.synthesize(reply.say):
                self.media.write(chunk)
            if self.media.output_pending_ms > 0:
                await self.drained.wait()
            self.call.said.append(Said(reply.say, start, self._now_ms()))
        finally:
            self.speaking = False
