"""OpenAI-compatible speech (``POST /v1/audio/speech``, ``response_format="pcm"``): 24 kHz PCM16
streamed as the server produces it, resampled to the call's rate chunk by chunk."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import openai

from outdial.agent.audio import Resampler
from outdial.agent.provider_clients import openai_client

OPENAI_PCM_RATE = 24000


class SpeechError(RuntimeError):
    pass


class OpenAITTS:
    def __init__(
        self,
        api_key: str,
        model: str = "gpt-4o-mini-tts",
        voice: str = "alloy",
        base_url: str | None = None,
        sample_rate: int = 16000,
        timeout: float = 15.0,
    ) -> None:
        self.sample_rate = sample_rate
        self.model = model
        self.voice = voice
        self._client_args = (api_key, base_url, timeout)

    @property
    def client(self) -> openai.AsyncOpenAI:
        return openai_client(*self._client_args)

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        resampler = Resampler(OPENAI_PCM_RATE, self.sample_rate)
        try:
            async with self.client.audio.speech.with_streaming_response.create(
                model=self.model, voice=self.voice, input=text, response_format="pcm"
            ) as response:
                async for chunk in response.iter_bytes():
                    out = resampler.feed(chunk)
                    if out:
                        yield out
        except openai.APIError as exc:
            raise SpeechError(f"speech request failed: {exc}") from exc
        tail = resampler.flush()
        if tail:
            yield tail
