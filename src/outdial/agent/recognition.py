"""Recognition of the callee's turns: one STT session per turn, opened when speech starts.

A pre-roll of audio from before the turn opened is fed first, so the first syllable (heard before
the VAD was sure) is not lost and the recognizer hears some quiet before the words (pocketsphinx
misreads an utterance that starts abruptly: measured, "no I can't" came back empty). The audio gets
a faint dither (-72 dBFS): on digital silence (zeros from comfort noise or a TTS callee)
pocketsphinx's answers flipped between runs; a real line's noise floor keeps them stable.
Partials are watched for a complete expected answer, which lets the turn end early.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np

from outdial.agent.audio import Resampler
from outdial.agent.brains.intents import normalize
from outdial.agent.protocols import FRAME_MS, STT, Final, Partial, STTSession

log = logging.getLogger(__name__)

_DITHER_RMS = 8.0  # LSB of PCM16: -72 dBFS, far below any line's own noise


class Recognizer:
    def __init__(
        self,
        stt: STT,
        *,
        sample_rate: int,
        language: str = "en-US",
        preroll_ms: int = 400,
        on_complete_answer: Callable[[bool], None] | None = None,
    ) -> None:
        self._stt = stt
        self._rate = sample_rate
        self._language = language
        self._preroll: deque[bytes] = deque(maxlen=max(1, preroll_ms // FRAME_MS))
        self._session: STTSession | None = None
        self._resampler: Resampler | None = None
        self._partials: asyncio.Task[None] | None = None
        self._expected: set[str] = set()
        self._on_complete = on_complete_answer
        self.partial = ""
        self._closing: set[asyncio.Task[None]] = set()
        self._rng = np.random.default_rng(0)

    @property
    def listening(self) -> bool:
        return self._session is not None

    def push(self, frame: bytes) -> None:
        """Every inbound frame: kept for pre-roll, and fed to the open session if any."""
        if self._session is not None:
            self._feed(frame)
        else:
            self._preroll.append(frame)

    def begin(self, expected: Sequence[str] | None) -> None:
        """Speech started: open a session (constrained to ``expected`` when given) and feed the pre-roll."""
        self.discard()
        session = self._stt.open(expected=list(expected) if expected else None, language=self._language)
        self._session = session
        self._resampler = Resampler(self._rate, session.sample_rate, quality="LQ")
        self._expected = {normalize(p) for p in expected or ()}
        self.partial = ""
        for frame in self._preroll:
            self._feed(frame)
        self._preroll.clear()
        self._partials = asyncio.get_running_loop().create_task(self._watch(session))

    def _feed(self, frame: bytes) -> None:
        assert self._session is not None and self._resampler is not None
        noisy = np.frombuffer(frame, dtype=np.int16) + self._rng.normal(0.0, _DITHER_RMS, len(frame) // 2)
        pcm = self._resampler.feed(np.clip(noisy, -32768, 32767).astype(np.int16).tobytes())
        if pcm:
            self._session.feed(pcm)

    async def _watch(self, session: STTSession) -> None:
        async for ev in session.events():
            if isinstance(ev, Partial):
                self.partial = ev.text
                if self._on_complete is not None and self._expected:
                    self._on_complete(normalize(ev.text) in self._expected)
            elif isinstance(ev, Final):
                return

    def _detach(self) -> tuple[STTSession | None, Resampler | None]:
        session, resampler = self._session, self._resampler
        self._session = self._resampler = None
        if self._partials is not None:
            self._partials.cancel()
            self._partials = None
        return session, resampler

    async def finish(self) -> Final:
        """The turn ended: the final hypothesis. The recognizer is free for the next turn at once."""
        session, resampler = self._detach()
        if session is None:
            return Final("", 0.0)
        try:
            if resampler is not None:
                tail = resampler.flush()
                if tail:
                    session.feed(tail)
            return await session.finalize()
        finally:
            await session.close()

    def discard(self) -> None:
        """Drop the open session (noise, or a backchannel under the agent's voice)."""
        session, _ = self._detach()
        if session is not None:
            task = asyncio.get_running_loop().create_task(session.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            task.add_done_callback(_log_failure)

    async def close(self) -> None:
        session, _ = self._detach()
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("closing an STT session failed: %s", task.exception())
