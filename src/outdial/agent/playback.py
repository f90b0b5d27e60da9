"""The agent's voice on the line: TTS audio written to the port, and what the callee actually heard.

Every utterance knows its place in the stream of samples written to the port; the port's sent tap
counts the samples that went out. When the callee barges in, :meth:`Playback.interrupt` drops the
unsent audio (``clear_output``) and cuts each utterance's text to the share that was heard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from outdial.agent.audio import Resampler, leading_silence, samples
from outdial.agent.port import AudioPort
from outdial.agent.protocols import FRAME_MS, TTS
from outdial.agent.transcript import cut_text

# Used only to guess the length of an utterance still being synthesized when it was interrupted.
_MS_PER_CHAR = 65.0
# A synthesizer's lead-in silence is dropped (up to this much): it would only delay the first word.
_MAX_LEAD_TRIM_MS = 300


@dataclass(slots=True)
class Utterance:
    text: str
    start: int  # first sample, in the cumulative stream written to the port
    end: int | None = None  # one past the last sample; None while synthesizing


@dataclass(slots=True)
class SpokenTurn:
    """What one agent reply sounded like on the line."""

    text: str
    start_ms: float
    end_ms: float
    interrupted: bool
    heard: bool  # at least one frame reached the callee


@dataclass(slots=True)
class _TurnState:
    utterances: list[Utterance] = field(default_factory=list)
    first_sent_ms: float | None = None
    last_sent_ms: float | None = None
    started_ms: float = 0.0


class Playback:
    def __init__(self, port: AudioPort, clock: Callable[[], float]) -> None:
        self._port = port
        self._clock = clock
        self._rate = port.sample_rate
        self._written = 0
        self._sent = 0
        self._synthesizing = 0
        self._turn = _TurnState()
        self.on_first_sent: Callable[[float], None] | None = None

    # -- writing ---------------------------------------------------------------------------
    def begin_turn(self) -> None:
        self._turn = _TurnState(started_ms=self._clock())

    def write(self, text: str, pcm: bytes) -> Utterance:
        """An utterance whose audio (at the port's rate) is already at hand: on the wire next frame."""
        u = Utterance(text, self._written)
        self._turn.utterances.append(u)
        self._write(pcm)
        u.end = self._written
        return u

    async def say(
        self, text: str, tts: TTS, on_first_chunk: Callable[[float], None] | None = None
    ) -> Utterance:
        """Synthesize ``text`` and write it as it comes; returns once all of it is written (not played)."""
        u = Utterance(text, self._written)
        self._turn.utterances.append(u)
        resampler = Resampler(tts.sample_rate, self._rate)
        trim_left = self._rate * _MAX_LEAD_TRIM_MS // 1000 * 2
        self._synthesizing += 1
        try:
            async for chunk in tts.synthesize(text):
                if on_first_chunk is not None:
                    on_first_chunk(self._clock())
                    on_first_chunk = None
                pcm = resampler.feed(chunk)
                if trim_left and pcm:
                    cut = min(leading_silence(pcm), trim_left)
                    trim_left = 0 if cut < len(pcm) else trim_left - cut
                    pcm = pcm[cut:]
                self._write(pcm)
            self._write(resampler.flush())
        finally:
            self._synthesizing -= 1
            u.end = self._written
        return u

    def _write(self, pcm: bytes) -> None:
        if pcm:
            self._port.write(pcm)
            self._written += samples(pcm)

    # -- the sent tap ------------------------------------------------------------------------
    def on_sent(self, frame: bytes) -> None:
        now = self._clock()
        self._sent = min(self._sent + samples(frame), self._written)
        if self._turn.first_sent_ms is None:
            self._turn.first_sent_ms = now
            if self.on_first_sent is not None:
                self.on_first_sent(now)
        self._turn.last_sent_ms = now + FRAME_MS  # the frame plays for 20 ms from now

    # -- state -------------------------------------------------------------------------------
    @property
    def speaking(self) -> bool:
        """Audio of this turn is being synthesized or has not all reached the callee yet."""
        return self._synthesizing > 0 or self._port.output_pending_ms > 0

    async def wait_drained(self, limit_s: float | None = None) -> bool:
        """Wait until everything written has been played out; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if limit_s is None else loop.time() + limit_s
        while self.speaking:
            if deadline is not None and loop.time() >= deadline:
                return False
            await asyncio.sleep(FRAME_MS / 2000)
        self._sent = self._written
        return True

    # -- ending a turn -----------------------------------------------------------------------
    def end_turn(self) -> SpokenTurn:
        """The turn as played in full."""
        t = self._turn
        text = " ".join(u.text for u in t.utterances if u.text)
        self._turn = _TurnState(started_ms=self._clock())
        return self._spoken(t, text, interrupted=False)

    def interrupt(self) -> SpokenTurn:
        """Stop playback now; the turn keeps only the words the callee heard."""
        self._port.clear_output()
        t = self._turn
        sent = self._sent
        self._written = sent
        heard: list[str] = []
        cut = False
        for u in t.utterances:
            end = u.end if u.end is not None else u.start + self._guess_samples(u.text)
            if sent >= end:
                heard.append(u.text)
                continue
            cut = True
            if sent > u.start and end > u.start:
                part = cut_text(u.text, (sent - u.start) / (end - u.start))
                if part:
                    heard.append(part)
            break
        self._turn = _TurnState(started_ms=self._clock())
        return self._spoken(t, " ".join(heard), interrupted=cut)

    def _guess_samples(self, text: str) -> int:
        return int(len(text) * _MS_PER_CHAR * self._rate / 1000)

    def _spoken(self, t: _TurnState, text: str, *, interrupted: bool) -> SpokenTurn:
        start = t.first_sent_ms if t.first_sent_ms is not None else t.started_ms
        end = t.last_sent_ms if t.last_sent_ms is not None else start
        return SpokenTurn(text, start, max(start, end), interrupted, heard=t.first_sent_ms is not None)
