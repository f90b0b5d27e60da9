"""espeak-ng through espeakng-loader's bundled library: formant synthesis in-process, no subprocess.

libespeak-ng keeps global state and is not thread-safe, so one worker thread owns it; each utterance is a
job whose synth-callback chunks (~60 ms at 22.05 kHz) are resampled there and handed to the asyncio
consumer as they come, so the first chunk is out long before the sentence is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import queue
import threading
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import espeakng_loader

from outdial.agent.audio import Resampler

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_EE_OK = 0

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Voice:
    name: str = "en-us"
    rate: int = 175  # words per minute, 80..450
    pitch: int = 50  # 0..100
    volume: int = 100  # 0..200


@dataclass(slots=True)
class _Job:
    text: str
    voice: Voice
    out_rate: int
    emit: Callable[[bytes | BaseException | None], None]
    cancelled: threading.Event = field(default_factory=threading.Event)


class _Engine:
    """The process's one libespeak-ng instance and the thread that drives it."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self._lib = lib
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], Future[object]]] = queue.SimpleQueue()
        self._current: _Job | None = None
        self._resampler: Resampler | None = None
        self._voice: Voice | None = None
        self._callback = _SynthCallback(self._on_audio)  # kept referenced: the library holds the pointer
        self.native_rate = 0
        init: Future[object] = Future()
        self._jobs.put((self._initialize, init))
        threading.Thread(target=self._run, name="espeak-ng", daemon=True).start()
        init.result()

    def _initialize(self) -> None:
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0
        )
        if rate <= 0:
            raise EspeakError(f"espeak-ng failed to initialize (data at {espeakng_loader.get_data_path()})")
        self.native_rate = rate
        self._lib.espeak_SetSynthCallback(self._callback)

    def _run(self) -> None:
        while True:
            work, future = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(work())
            except BaseException as exc:
                future.set_exception(exc)

    def call(self, work: Callable[[], object]) -> Future[object]:
        """Run ``work`` on the espeak thread."""
        future: Future[object] = Future()
        self._jobs.put((work, future))
        return future

    def set_voice(self, voice: Voice) -> None:
        if voice == self._voice:
            return
        if self._lib.espeak_SetVoiceByName(voice.name.encode()) != _EE_OK:
            self._voice = None
            raise EspeakError(f"espeak-ng has no voice {voice.name!r} (try en-us, en, en-us+f3, de, fr, es)")
        self._lib.espeak_SetParameter(_PARAM_RATE, voice.rate, 0)
        self._lib.espeak_SetParameter(_PARAM_PITCH, voice.pitch, 0)
        self._lib.espeak_SetParameter(_PARAM_VOLUME, voice.volume, 0)
        self._voice = voice

    def phonemes(self, text: str, voice: Voice) -> str:
        """espeak's phoneme mnemonics for ``text`` (e.g. "h@l'oU"), clause by clause."""
        self.set_voice(voice)
        buffer = ctypes.create_string_buffer(text.encode("utf-8"))
        cursor = ctypes.c_void_p(ctypes.addressof(buffer))
        clauses = []
        while cursor.value:  # the library advances the cursor; NULL once the text is consumed
            out = self._lib.espeak_TextToPhonemes(ctypes.byref(cursor), _CHARS_UTF8, 0)
            clauses.append(out.decode("utf-8", "replace") if out else "")
        return " ".join(c for c in clauses if c)

    def synthesize(self, job: _Job) -> None:
        if job.cancelled.is_set():
            return
        end: BaseException | None = None
        try:
            self.set_voice(job.voice)
            self._current = job
            self._resampler = Resampler(self.native_rate, job.out_rate, quality="HQ")
            text = job.text.encode("utf-8")
            status = self._lib.espeak_Synth(
                text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            if status != _EE_OK and not job.cancelled.is_set():
                raise EspeakError(f"espeak_Synth failed with status {status}")
            if not job.cancelled.is_set():
                tail = self._resampler.flush()
                if tail:
                    job.emit(tail)
        except BaseException as exc:
            end = exc
        finally:
            # Let go of the utterance before signalling its end, so nothing is half-held at exit.
            self._current = None
            self._resampler = None
        with contextlib.suppress(RuntimeError):  # the consumer's loop may be closed by now
            job.emit(end)

    def _on_audio(self, wav: ctypes._Pointer[ctypes.c_short] | None, count: int, _events: int | None) -> int:
        job, resampler = self._current, self._resampler
        if job is None or resampler is None or job.cancelled.is_set():
            return 1  # abort this synthesis
        if count > 0 and wav:
            try:
                out = resampler.feed(ctypes.string_at(wav, count * 2))
                if out:
                    job.emit(out)
            except RuntimeError:  # the consumer's event loop is gone: nobody is listening any more
                job.cancelled.set()
                return 1
        return 0


def phonemes(text: str, voice: str = "en-us") -> str:
    """espeak's phonemes for ``text``: how it would say a word no dictionary knows. Blocks for well
    under a millisecond (on the espeak thread, after any utterance it is synthesizing)."""
    eng = engine()
    return str(eng.call(lambda: eng.phonemes(text, Voice(voice))).result())


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def engine() -> _Engine:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Engine()
        return _engine


class EspeakTTS:
    """Offline TTS; ``synthesize`` streams PCM16 at ``sample_rate`` (resampled from 22.05 kHz)."""

    def __init__(
        self,
        voice: str = "en-us",
        rate: int = 175,
        pitch: int = 50,
        volume: int = 100,
        sample_rate: int = 16000,
    ) -> None:
        self.sample_rate = sample_rate
        self.voice = Voice(voice, rate, pitch, volume)
        self._engine = engine()

    def check_voice(self) -> None:
        """Raise ``EspeakError`` if the voice does not exist (blocks for well under a millisecond)."""
        self._engine.call(lambda: self._engine.set_voice(self.voice)).result()

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()

        def emit(item: bytes | BaseException | None) -> None:
            loop.call_soon_threadsafe(chunks.put_nowait, item)

        job = _Job(text, self.voice, self.sample_rate, emit)
        self._engine.call(lambda: self._engine.synthesize(job))
        try:
            while (item := await chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancelled.set()  # the consumer stopped early (barge-in): abort the synthesis
