"""An in-process call line: an :class:`AudioPort` for the agent and a callee end, paced in real time.

Every 20 ms the line delivers one callee frame to the agent (speech queued with :meth:`play`, else
silence) and sends one frame of the agent's written audio to the callee, like RTP would. Used by the
session tests and the turn-latency benchmark; the SIP/RTP path uses the media layer's stream instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from outdial.agent.audio import frame_bytes, rms, silence
from outdial.agent.port import AudioHandler, DtmfHandler
from outdial.agent.protocols import FRAME_MS

_SPEECH_RMS = 200.0  # a frame louder than this counts as speech when timing what the callee heard


class LoopbackPort:
    def __init__(self, sample_rate: int = 8000) -> None:
        self.sample_rate = sample_rate
        self._frame = frame_bytes(sample_rate)
        self._out = bytearray()
        self._in = bytearray()
        self._audio: AudioHandler | None = None
        self._dtmf: DtmfHandler | None = None
        self._sent: AudioHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_done: asyncio.Event = asyncio.Event()
        self._in_done.set()
        # What the callee end saw: every frame (silence included), the DTMF the agent sent, timings.
        self.heard = bytearray()
        self.dtmf_sent: list[str] = []
        self.last_callee_frame_at: float | None = None  # monotonic time of the last callee frame
        self.speech_sent_at: list[float] = []  # monotonic times of agent frames carrying speech
        self.cleared_at: list[float] = []  # monotonic times of clear_output (barge-in)
        self.ticks = 0  # frames sent so far, speech or not
        self.first_speech_tick: int | None = None
        self.on_agent_frame: Callable[[bytes, float], None] | None = None

    # -- the agent's side (AudioPort) -----------------------------------------------------------
    @property
    def output_pending_ms(self) -> float:
        return len(self._out) / 2 / self.sample_rate * 1000.0

    def write(self, pcm: bytes) -> None:
        self._out += pcm

    def clear_output(self) -> None:
        self._out.clear()
        self.cleared_at.append(time.monotonic())

    def set_audio_handler(self, cb: AudioHandler | None) -> None:
        self._audio = cb

    def set_dtmf_handler(self, cb: DtmfHandler | None) -> None:
        self._dtmf = cb

    def set_sent_handler(self, cb: AudioHandler | None) -> None:
        self._sent = cb

    def send_dtmf(self, digits: str) -> None:
        self.dtmf_sent.append(digits)

    # -- the callee's side ----------------------------------------------------------------------
    def play(self, pcm: bytes) -> None:
        """Queue callee speech (PCM16 at the line's rate) toward the agent."""
        self._in += pcm
        self._in_done.clear()

    async def played(self) -> float:
        """Wait until the queued callee audio has been delivered; monotonic time of its last frame."""
        await self._in_done.wait()
        return self.last_callee_frame_at or time.monotonic()

    def press(self, digit: str) -> None:
        """The callee presses a key."""
        if self._dtmf is not None:
            self._dtmf(digit)

    # -- the clock ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        period = FRAME_MS / 1000
        next_tick = time.monotonic() + period
        while True:
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
            next_tick += period
            self._tick()

    def _tick(self) -> None:
        now = time.monotonic()
        self.ticks += 1
        if self._out:
            frame = bytes(self._out[: self._frame]).ljust(self._frame, b"\0")
            del self._out[: self._frame]
            self.heard += frame
            if rms(frame) > _SPEECH_RMS:
                self.speech_sent_at.append(now)
                if self.first_speech_tick is None:
                    self.first_speech_tick = self.ticks
            if self._sent is not None:
                self._sent(frame)
            if self.on_agent_frame is not None:
                self.on_agent_frame(frame, now)
        else:
            self.heard += silence(self.sample_rate)
        if self._in:
            inbound = bytes(self._in[: self._frame]).ljust(self._frame, b"\0")
            del self._in[: self._frame]
            self.last_callee_frame_at = now
            if not self._in:
                self._in_done.set()
        else:
            inbound = silence(self.sample_rate)
        if self._audio is not None:
            self._audio(inbound)
