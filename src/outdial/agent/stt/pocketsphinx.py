"""PocketSphinx 5 (model in the wheel), streaming: grammar search over the expected phrases, else the
general language model.

Measured on µ-law telephone audio: the general model is unusable (≈ 84 % WER) and slow (RTF ≈ 0.4);
a grammar of the answers the flow expects is usable (≈ 27 % WER) at RTF ≈ 0.02, so a grammar is used
whenever ``expected`` is given. Audio is decoded as it is fed (the decoder holds the GIL, so a thread
would not spare the event loop), which leaves only ``end_utt`` — under a millisecond for a grammar — for
``finalize``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence

from pocketsphinx import Decoder

from outdial.agent.protocols import Final, Partial
from outdial.agent.stt.grammar import Grammar, compile_grammar

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # the en-US acoustic model is wideband: upsample 8 kHz telephone audio first
_PARTIAL_EVERY = 3200  # bytes: a partial hypothesis every 100 ms of audio at most
_MAX_GRAMMARS = 64  # compiled grammars kept per decoder


class _PooledDecoder:
    """A decoder with its compiled grammar searches, reused across sessions (creating one takes 0.1–0.4 s)."""

    def __init__(self, free_text: bool) -> None:
        kwargs: dict[str, object] = {"loglevel": "FATAL"}
        if free_text:
            kwargs.update(fwdflat=False, bestpath=False)  # finalize in ~20 ms instead of ~300 ms
        else:
            kwargs["lm"] = None
        self.decoder = Decoder(**kwargs)
        self.free_text = free_text
        self._searches: OrderedDict[str, tuple[str, Grammar | None]] = OrderedDict()
        self._compiled = 0

    def grammar(self, expected: Sequence[str]) -> Grammar | None:
        """Activate the grammar of ``expected`` (compiled once per decoder); None: no usable phrase."""
        key = "\n".join(expected)
        if key in self._searches:
            self._searches.move_to_end(key)
            name, found = self._searches[key]
        else:
            found = compile_grammar(expected, lambda w: self.decoder.lookup_word(w) is not None)
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

    def use_language_model(self) -> bool:
        if not self.free_text:
            return False
        self.decoder.activate_search(None)
        return True


class _Pool:
    def __init__(self) -> None:
        self._idle: dict[bool, list[_PooledDecoder]] = {True: [], False: []}
        self._lock = threading.Lock()

    def take(self, free_text: bool) -> _PooledDecoder:
        with self._lock:
            if self._idle[free_text]:
                return self._idle[free_text].pop()
        return _PooledDecoder(free_text)

    def give(self, decoder: _PooledDecoder) -> None:
        with self._lock:
            self._idle[decoder.free_text].append(decoder)

    def warm(self, free_text: bool, count: int) -> None:
        with self._lock:
            missing = count - len(self._idle[free_text])
        for _ in range(missing):
            self.give(_PooledDecoder(free_text))


_pool = _Pool()


class PocketsphinxSession:
    """Feed 16 kHz PCM16; each ``finalize`` ends one utterance, the next ``feed`` starts another."""

    sample_rate = SAMPLE_RATE

    def __init__(self, pooled: _PooledDecoder, expected: Sequence[str] | None) -> None:
        self._pooled = pooled
        self._decoder = pooled.decoder
        self.grammar = pooled.grammar(expected) if expected else None
        self.mode = "grammar" if self.grammar else ("lm" if pooled.use_language_model() else "none")
        self._events: asyncio.Queue[Partial | Final | None] = asyncio.Queue()
        self._in_utt = False
        self._since_partial = 0
        self._last_partial = ""
        self._closed = False

    def feed(self, pcm: bytes) -> None:
        if self._closed or self.mode == "none" or not pcm:
            return
        if not self._in_utt:
            self._decoder.start_utt()
            self._in_utt = True
            self._since_partial = 0
            self._last_partial = ""
        self._decoder.process_raw(pcm, False, False)
        self._since_partial += len(pcm)
        if self._since_partial >= _PARTIAL_EVERY:
            self._since_partial = 0
            hyp = self._decoder.hyp()
            text = hyp.hypstr if hyp is not None else ""
            if text and text != self._last_partial:
                self._last_partial = text
                self._events.put_nowait(Partial(text))

    async def finalize(self) -> Final:
        final = self._end_utterance()
        self._events.put_nowait(final)
        return final

    def _end_utterance(self) -> Final:
        if not self._in_utt:
            return Final("", 0.0)
        self._in_utt = False
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        if hyp is None or not hyp.hypstr:
            return Final("", 0.0)
        confidence = min(max(float(hyp.prob), 0.0), 1.0)
        if self.grammar is None:
            return Final(hyp.hypstr, confidence)
        text, complete = self.grammar.match(hyp.hypstr)
        return Final(text, confidence if complete else confidence / 2)

    async def events(self) -> AsyncIterator[Partial | Final]:
        while (event := await self._events.get()) is not None:
            yield event

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._in_utt:
            self._decoder.end_utt()
            self._in_utt = False
        _pool.give(self._pooled)
        self._events.put_nowait(None)


class PocketsphinxSTT:
    """Offline STT. ``free_text=False`` skips the general model (grammar only, 0.1 s instead of 0.4 s
    to load a decoder, and no answer when nothing is expected)."""

    def __init__(self, free_text: bool = True, warm: int = 1) -> None:
        self.free_text = free_text
        _pool.warm(free_text, warm)  # pay the decoder load at setup, not on the first utterance

    def open(self, *, expected: Sequence[str] | None = None, language: str = "en-US") -> PocketsphinxSession:
        if not language.lower().startswith("en"):
            raise ValueError(f"the bundled pocketsphinx model is US English, not {language}")
        return PocketsphinxSession(_pool.take(self.free_text), expected)
