"""A call on an in-process line with the real offline engines: espeak speaks for the callee,
pocketsphinx and webrtcvad listen for the agent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from outdial.agent.audio import rms
from outdial.agent.loopback import LoopbackPort
from outdial.agent.protocols import TTS
from outdial.agent.result import SessionResult
from outdial.agent.runtime import build_session
from outdial.agent.session import AgentSession
from outdial.lifecycle import EndReason

RATE = 8000


@pytest.fixture(scope="session")
def callee_voice() -> TTS:
    from outdial.agent.tts import make_tts

    return make_tts({"provider": "espeak", "voice": "en-us", "rate": 160}, sample_rate=RATE)


async def speech(voice: TTS, text: str) -> bytes:
    pcm = b"".join([c async for c in voice.synthesize(text)])
    # trim the synthesizer's trailing silence, so "played" means the end of the words
    frame = RATE // 50 * 2
    end = len(pcm)
    while end > frame and rms(pcm[end - frame : end]) < 50:
        end -= frame
    return pcm[:end]


class Call:
    """One agent session on a :class:`LoopbackPort`, and the callee's hands and mouth."""

    def __init__(self, agent: dict[str, Any], voice: TTS, tmp: Path, **kw: Any) -> None:
        self.port = LoopbackPort(RATE)
        self.voice = voice
        self.hangups: list[EndReason] = []
        self.pending_at_hangup: list[float] = []
        self.session: AgentSession = build_session(
            {"name": "test", **agent},
            self.port,
            hangup=self._hangup,
            recording_dir=tmp,
            call_id="call",
            **kw,
        )
        self.answered_at = 0.0
        self.answered_tick = 0

    def _hangup(self, reason: EndReason) -> None:
        self.hangups.append(reason)
        self.pending_at_hangup.append(self.port.output_pending_ms)

    async def answer(self) -> None:
        await self.session.prepare()
        self.port.start()
        self.answered_at = time.monotonic()
        self.answered_tick = self.port.ticks
        self.session.start()

    async def say(self, text: str) -> float:
        """The callee speaks; returns the monotonic time its last frame reached the agent."""
        self.port.play(await speech(self.voice, text))
        return await self.port.played()

    async def until(self, cond: Callable[[], bool], within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; transcript so far: {self.session.transcript}")
            await asyncio.sleep(0.02)

    async def agent_turn_over(self, count: int, within: float = 15.0) -> None:
        """Wait until the transcript holds ``count`` finished agent turns and the agent is quiet."""
        await self.until(
            lambda: (
                sum(t.role == "agent" for t in self.session.transcript) >= count
                and not self.session.agent_busy
            ),
            within,
        )
        await asyncio.sleep(0.2)  # a callee leaves a breath before answering

    async def result(self, within: float = 20.0) -> SessionResult:
        try:
            return await asyncio.wait_for(self.session.wait(), within)
        except TimeoutError:
            raise AssertionError(f"the call did not end; transcript: {self.session.transcript}") from None
        finally:
            await self.port.close()

    def agent_texts(self) -> list[str]:
        return [t.text for t in self.session.transcript if t.role == "agent"]


@pytest.fixture
async def call_factory(callee_voice: TTS, tmp_path: Path) -> AsyncIterator[Callable[..., Call]]:
    calls: list[Call] = []

    def make(agent: dict[str, Any], **kw: Any) -> Call:
        c = Call(agent, callee_voice, tmp_path, **kw)
        calls.append(c)
        return c

    yield make
    for c in calls:
        if c.session.result is None:
            await c.session.stop(EndReason.CANCELED)
        await c.port.close()
