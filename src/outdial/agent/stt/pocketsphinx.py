"""PocketSphinx 5 (model in the wheel), streaming: grammar search over the expected phrases, else the
general language model.

Measured on µ-law telephone audio: the general model is unusable (≈ 84 % WER) and slow (RTF ≈ 0.4);
a grammar of the answers the flow expects is usable (here 67–90 % of answers right through the media
layer's G.711 path, tests/agent/providers/test_pocketsphinx.py) at RTF ≈ 0.02, so a grammar is used
whenever ``expected`` is given. Audio is decoded as it is fed (the decoder holds the GIL, so a thread
would not spare the event loop), which leaves only ``end_utt`` — about a millisecond for a grammar —
for ``finalize``. The decoder only sees audio from 300 ms before the first audible frame, and at most
250 ms of each quiet stretch until words follow it: long silences derail its live cepstral mean and
grow phantom words.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence

import numpy as np
from pocketsphinx import Decoder

from outdial.agent.protocols import Final, Partial
from outdial.agent.stt.g2p import guess_pronunciation
from outdial.agent.stt.grammar import Grammar, compile_grammar

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # the en-US acoustic model is wideband: upsample 8 kHz telephone audio first
_PARTIAL_EVERY = 3200  # bytes: a partial hypothesis every 100 ms of audio at most
_MAX_GRAMMARS = 64  # compiled grammars kept per decoder
# The general model with default settings decodes at RTF ≈ 0.4–0.6 and finalizes in 20–300 ms, on the
# event loop (the decoder holds the GIL). Narrow beams and no second pass: RTF ≈ 0.07, finalize ≤ 2 ms;
# its words were no worse on telephone audio, where they are poor anyway (use a cloud STT for free text).
# The same beams serve grammars well: 87–90 % of answers right and ~1 ms finalize here, against 60 %
# (phantom trailing words) and ~10 ms with the default beams.
_FAST_SEARCH: dict[str, object] = {
    "fwdflat": False,
    "bestpath": False,
    "maxhmmpf": 2000,
    "maxwpf": 5,
    "beam": 1e-40,
    "wbeam": 1e-30,
    "pbeam": 1e-40,
    "lpbeam": 1e-30,
}


def _high_band_noise(seconds: int = 1, level: float = 30.0) -> np.ndarray:
    """Faint noise above 4 kHz (about -60 dBFS).

    Cleanly upsampled telephone audio has nothing above 4 kHz, which the wideband model never heard in
    training and which drives its top filterbank channels to the log floor; this noise floor lifted
    grammar accuracy on such audio from 58 % to 75 % here. Through the media layer's upsampler (whose
    images leave some energy up there) it is neutral; on wideband input it is inaudible.
    """
    n = SAMPLE_RATE * seconds
    spectrum = np.fft.rfft(np.random.default_rng(8000).normal(0.0, 1.0, n))
    spectrum[np.fft.rfftfreq(n, 1 / SAMPLE_RATE) < 4000] = 0
    noise = np.fft.irfft(spectrum, n)
    return np.round(noise / noise.std() * level).astype(np.int32)


_FILL = _high_band_noise()
_START_RMS = 60.0  # about -55 dBFS: line noise stays below, any voice is above
_PREROLL_BYTES = SAMPLE_RATE * 2 * 300 // 1000  # 300 ms kept from before the first audible frame
_FRAME_BYTES = SAMPLE_RATE * 2 * 20 // 1000
_FALLBACK_CONFIDENCE = 0.2
_TAIL_BYTES = SAMPLE_RATE * 2 * 250 // 1000  # 250 ms of the quiet after the last audible frame


_FORCED_FIT = 0.93  # a second phrase fitting worse than this share of the first is taken as forced


def _fit(words: list[tuple[int, float]]) -> float:
    """Per-frame acoustic score of words given as (frames, score)."""
    frames = sum(n for n, _ in words)
    return sum(n * score for n, score in words) / frames if frames else 0.0


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0


class _PooledDecoder:
    """A decoder with its compiled grammar searches, reused across sessions. Two kinds: grammar only
    (27 MB, 0.1 s to load) and with the general model for free text (91 MB, 0.4 s)."""

    def __init__(self, with_lm: bool) -> None:
        kwargs: dict[str, object] = {"loglevel": "FATAL", **_FAST_SEARCH}
        if not with_lm:
            kwargs["lm"] = None
        self.decoder = Decoder(**kwargs)
        self.with_lm = with_lm
        self._searches: OrderedDict[str, tuple[str, Grammar | None]] = OrderedDict()
        self._compiled = 0

    def grammar(self, expected: Sequence[str]) -> Grammar | None:
        """Activate the grammar of ``expected`` (compiled once per decoder); None: no usable phrase."""
        key = "\n".join(expected)
        if key in self._searches:
            self._searches.move_to_end(key)
            name, found = self._searches[key]
        else:
            found = compile_grammar(expected, self._pronounceable)
            self._compiled += 1
            name = f"expected{self._compiled}"
            if found is not None:
                if found.dropped_words:
                    log.warning(
                        "pocketsphinx cannot pronounce %s; left out of the grammar", found.dropped_words
                    )
                self.decoder.add_jsgf_string(name, found.jsgf)
            self._searches[key] = (name, found)
            while len(self._searches) > _MAX_GRAMMARS:
                old_name, old_grammar = self._searches.popitem(last=False)[1]
                if old_grammar is not None:
                    self.decoder.remove_search(old_name)
        if found is not None:
            self.decoder.activate_search(name)
        return found

    def _pronounceable(self, word: str) -> bool:
        """In the dictionary, or added to it with espeak's guess (names like "priya" are not in it)."""
        if self.decoder.lookup_word(word) is not None:
            return True
        phones = guess_pronunciation(word)
        if phones is None:
            return False
        try:
            self.decoder.add_word(word, phones, True)
        except (RuntimeError, ValueError):  # a phone the acoustic model lacks
            return False
        log.info("pocketsphinx: %r is not in the dictionary; using espeak's guess /%s/", word, phones)
        return True

    def use_language_model(self) -> None:
        self.decoder.activate_search(None)


class _Pool:
    """Idle decoders of each kind, shared by every call of the process.

    A decoder is held only while the callee speaks (a recognition session per turn), so the pool grows
    to the most turns heard at once. Loading holds the GIL for much of its 0.1–0.4 s: on a helper thread
    the event loop still stalls (~0.1 s measured) but far less than loading inline. So a new recognizer
    (built per call, while the phone rings) and every ``take`` that empties the pool start loading a
    spare in the background; ``take`` waits for a load in flight and loads inline only when none is
    ready or coming.
    """

    def __init__(self) -> None:
        self._idle: dict[bool, list[_PooledDecoder]] = {True: [], False: []}
        self._loading: dict[bool, int] = {True: 0, False: 0}
        self._ready = threading.Condition()

    def take(self, with_lm: bool) -> _PooledDecoder:
        with self._ready:
            while not self._idle[with_lm] and self._loading[with_lm]:
                self._ready.wait()
            found = self._idle[with_lm].pop() if self._idle[with_lm] else None
        decoder = found or _PooledDecoder(with_lm)
        self.load_spare(with_lm)
        return decoder

    def give(self, decoder: _PooledDecoder) -> None:
        with self._ready:
            self._idle[decoder.with_lm].append(decoder)
            self._ready.notify_all()

    def load_spare(self, with_lm: bool) -> None:
        """Start loading a decoder in the background unless one is idle or already loading."""
        with self._ready:
            if self._idle[with_lm] or self._loading[with_lm]:
                return
            self._loading[with_lm] += 1
        threading.Thread(target=self._load, args=(with_lm,), name="pocketsphinx-load", daemon=True).start()

    def _load(self, with_lm: bool) -> None:
        try:
            decoder = _PooledDecoder(with_lm)
        finally:
            with self._ready:
                self._loading[with_lm] -= 1
                self._ready.notify_all()
        self.give(decoder)

    @property
    def loading(self) -> int:
        with self._ready:
            return sum(self._loading.values())


_pool = _Pool()


class PocketsphinxSession:
    """Feed 16 kHz PCM16; each ``finalize`` ends one utterance, the next ``feed`` starts another."""

    sample_rate = SAMPLE_RATE

    def __init__(self, pooled: _PooledDecoder | None, grammar: Grammar | None) -> None:
        self._pooled = pooled
        self.grammar = grammar
        self.mode = "none" if pooled is None else "grammar" if grammar is not None else "lm"
        self._events: asyncio.Queue[Partial | Final | None] = asyncio.Queue()
        self._in_utt = False
        self._since_partial = 0
        self._last_partial = ""
        self._closed = False
        self._fill_at = 0
        self._preroll = bytearray()
        self._held = bytearray()
        self._quiet = 0  # bytes of quiet since the last audible frame
        self._answered: str | None = None  # the expected phrase a complete partial began with

    def _decoder(self) -> Decoder:
        assert self._pooled is not None
        return self._pooled.decoder

    def _filled(self, pcm: bytes) -> bytes:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
        n, start = len(samples), self._fill_at
        idx = np.arange(start, start + n) % len(_FILL)
        self._fill_at = (start + n) % len(_FILL)
        return np.clip(samples + _FILL[idx], -32768, 32767).astype("<i2").tobytes()

    def feed(self, pcm: bytes) -> None:
        if self._closed or self._pooled is None or not pcm:
            return
        # The audible/quiet decisions below are per 20 ms, whatever size the caller feeds.
        for start in range(0, len(pcm) // 2 * 2, _FRAME_BYTES):
            self._feed_frame(pcm[start : start + _FRAME_BYTES])

    def _feed_frame(self, pcm: bytes) -> None:
        if not self._in_utt:
            # Seconds of (digital) silence before the words drag the decoder's live cepstral mean
            # away from speech and lose the utterance; it starts at the first audible audio instead,
            # with a short pre-roll.
            self._preroll += pcm
            del self._preroll[: max(0, len(self._preroll) - _PREROLL_BYTES)]
            if _rms(pcm) < _START_RMS:
                return
            pcm, self._preroll = bytes(self._preroll), bytearray()
            self._decoder().start_utt()
            self._in_utt = True
            self._since_partial = 0
            self._last_partial = ""
        elif _rms(pcm) < _START_RMS:
            # Quiet after words: the first _TAIL_BYTES are decoded at once, the rest held back until
            # words follow (a pause) — a long silent tail grows phantom words, and decoding it at
            # finalize would cost latency.
            self._quiet += len(pcm)
            if self._quiet > _TAIL_BYTES:
                self._held += pcm
                return
        else:
            self._quiet = 0
            if self._held:
                pcm, self._held = bytes(self._held) + pcm, bytearray()
        self._decode(pcm)

    def _decode(self, pcm: bytes) -> None:
        self._decoder().process_raw(self._filled(pcm), False, False)
        self._since_partial += len(pcm)
        if self._since_partial >= _PARTIAL_EVERY:
            self._since_partial = 0
            hyp = self._decoder().hyp()
            text = hyp.hypstr if hyp is not None else ""
            if text and text != self._last_partial:
                self._last_partial = text
                self._events.put_nowait(Partial(text))
                if self.grammar is not None and self.grammar.match(text)[1]:
                    self._answered = self.grammar.leading_phrase(text)

    async def finalize(self) -> Final:
        final = self._end_utterance()
        self._events.put_nowait(final)
        return final

    def _end_utterance(self) -> Final:
        self._preroll.clear()
        if not self._in_utt or self._pooled is None:
            return Final("", 0.0)
        self._in_utt = False
        self._held.clear()
        self._quiet = 0
        self._decoder().end_utt()
        hyp = self._decoder().hyp()
        answered, self._answered = self._answered, None
        if hyp is None or not hyp.hypstr:
            # The callee said an expected phrase and then more ("yes I will be there"): the search
            # matched the phrase, then found no way through the grammar for the rest and ends empty.
            # The phrase it had matched stands, with a low confidence.
            return Final(answered, _FALLBACK_CONFIDENCE) if answered else Final("", 0.0)
        confidence = min(max(float(hyp.prob), 0.0), 1.0)
        if self.grammar is None:
            return Final(hyp.hypstr, confidence)
        pair = self.grammar.two_phrases(hyp.hypstr)
        if pair is not None and self._second_phrase_forced(len(pair[0].split())):
            return Final(self.grammar.phrases[pair[0]], confidence / 2)
        text, complete = self.grammar.match(hyp.hypstr)
        return Final(text, confidence if complete else confidence / 2)

    def _second_phrase_forced(self, first_words: int) -> bool:
        """Whether the second of two phrases fits the audio far worse than the first did.

        A grammar has no place for words outside it, so the rest of a longer answer ("yes, I will be
        there") is forced onto the expected phrase nearest in sound ("not really"), turning a yes into
        a no. Such a forced phrase fits its frames measurably worse: its per-frame acoustic score was
        0.80–0.89 of the first phrase's on espeak answers through the telephone path, where a phrase
        really said scored 0.92–1.01 (tests/agent/providers/test_pocketsphinx.py).
        """
        words = [
            (seg.end_frame - seg.start_frame + 1, float(seg.ascore))
            for seg in self._decoder().seg() or []
            if not seg.word.startswith(("<", "[", "("))
        ]
        first, second = words[:first_words], words[first_words:]
        if not first or not second:
            return False
        return _fit(second) < _FORCED_FIT * _fit(first)

    async def events(self) -> AsyncIterator[Partial | Final]:
        while (event := await self._events.get()) is not None:
            yield event

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pooled is not None:
            if self._in_utt:
                self._pooled.decoder.end_utt()
                self._in_utt = False
            _pool.give(self._pooled)
        self._events.put_nowait(None)


class PocketsphinxSTT:
    """Offline STT. ``free_text=False`` skips the general model (grammar only, 0.1 s instead of 0.4 s
    to load a decoder, and no answer when nothing is expected)."""

    def __init__(self, free_text: bool = True) -> None:
        self.free_text = free_text
        # load while the phone rings, not on the first utterance
        _pool.load_spare(with_lm=False)
        if free_text:
            _pool.load_spare(with_lm=True)

    def open(self, *, expected: Sequence[str] | None = None, language: str = "en-US") -> PocketsphinxSession:
        if not language.lower().startswith("en"):
            raise ValueError(f"the bundled pocketsphinx model is US English, not {language}")
        if expected:
            pooled = _pool.take(with_lm=False)
            grammar = pooled.grammar(expected)
            if grammar is not None:
                return PocketsphinxSession(pooled, grammar)
            _pool.give(pooled)  # no phrase it can say: treat as free text
        if not self.free_text:
            return PocketsphinxSession(None, None)
        pooled = _pool.take(with_lm=True)
        pooled.use_language_model()
        return PocketsphinxSession(pooled, None)
