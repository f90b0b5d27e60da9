"""OpenAI-compatible transcription (``POST /v1/audio/transcriptions``): one request per utterance.

Works with OpenAI and compatible servers (Groq, a local faster-whisper or vLLM server) through
``base_url``. The utterance is buffered as it is fed and sent as a WAV at ``finalize``; the expected
phrases go into the ``prompt`` so the model leans toward them. No partial hypotheses (batch API).
"""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator, Sequence

import openai

from outdial.agent.protocols import Final
from outdial.agent.provider_clients import openai_client

SAMPLE_RATE = 16000
_PROMPT_CHARS = 600  # the prompt is a hint, not a grammar; keep it short


class TranscriptionError(RuntimeError):
    pass


def wav_bytes(pcm: bytes, sample_rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return out.getvalue()


class OpenAISTTSession:
    sample_rate = SAMPLE_RATE

    def __init__(self, stt: OpenAISTT, expected: Sequence[str] | None, language: str) -> None:
        self._stt = stt
        self._language = language.split("-")[0].lower()
        self._prompt = ", ".join(expected)[:_PROMPT_CHARS] if expected else None
        self._audio = bytearray()
        self._events: asyncio.Queue[Final | None] = asyncio.Queue()
        self._closed = False

    def feed(self, pcm: bytes) -> None:
        if not self._closed:
            self._audio += pcm

    async def finalize(self) -> Final:
        pcm, self._audio = bytes(self._audio), bytearray()
        if not pcm:
            return Final("", 0.0)
        try:
            result = await self._stt.client.audio.transcriptions.create(
                model=self._stt.model,
                file=("utterance.wav", wav_bytes(pcm, SAMPLE_RATE), "audio/wav"),
                response_format="json",
                language=self._language,
                prompt=self._prompt or openai.omit,
            )
        except openai.APIError as exc:
            raise TranscriptionError(f"transcription request failed: {exc}") from exc
        final = Final(result.text.strip(), 1.0 if result.text.strip() else 0.0)
        self._events.put_nowait(final)
        return final

    async def events(self) -> AsyncIterator[Final]:
        while (event := await self._events.get()) is not None:
            yield event

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._events.put_nowait(None)


class OpenAISTT:
    def __init__(
        self, api_key: str, model: str = "whisper-1", base_url: str | None = None, timeout: float = 15.0
    ) -> None:
        self.model = model
        self._client_args = (api_key, base_url, timeout)

    @property
    def client(self) -> openai.AsyncOpenAI:
        return openai_client(*self._client_args)

    def open(self, *, expected: Sequence[str] | None = None, language: str = "en-US") -> OpenAISTTSession:
        return OpenAISTTSession(self, expected, language)
