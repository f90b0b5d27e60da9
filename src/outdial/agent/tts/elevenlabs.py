"""ElevenLabs streaming speech: ``POST /v1/text-to-speech/{voice_id}/stream?output_format=pcm_<rate>``
with the ``xi-api-key`` header; raw PCM16 arrives chunk by chunk over one HTTP response."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import httpx

from outdial.agent.audio import Resampler
from outdial.agent.provider_clients import shared_client

PCM_RATES = (8000, 16000, 22050, 24000, 44100)


class SpeechError(RuntimeError):
    pass


class ElevenLabsTTS:
    def __init__(
        self,
        api_key: str,
        voice_id: str,
        model: str = "eleven_flash_v2_5",
        base_url: str = "https://api.elevenlabs.io",
        sample_rate: int = 16000,
        timeout: float = 15.0,
    ) -> None:
        self.sample_rate = sample_rate
        self.voice_id = voice_id
        self.model = model
        # Ask for the call's own rate when ElevenLabs offers it, so nothing needs resampling.
        self._source_rate = sample_rate if sample_rate in PCM_RATES else 16000
        self._client_args = (base_url.rstrip("/"), api_key, timeout)

    @property
    def _client(self) -> httpx.AsyncClient:
        base_url, api_key, timeout = self._client_args
        return shared_client(
            ("elevenlabs", *self._client_args),
            lambda: httpx.AsyncClient(base_url=base_url, headers={"xi-api-key": api_key}, timeout=timeout),
        )

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        resampler = Resampler(self._source_rate, self.sample_rate)
        client = self._client
        request = client.build_request(
            "POST",
            f"/v1/text-to-speech/{self.voice_id}/stream",
            params={"output_format": f"pcm_{self._source_rate}"},
            json={"text": text, "model_id": self.model},
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise SpeechError(f"ElevenLabs is unreachable: {exc}") from exc
        try:
            if response.status_code != 200:
                detail = (await response.aread()).decode("utf-8", "replace")[:300]
                raise SpeechError(f"ElevenLabs answered {response.status_code}: {detail}")
            async for chunk in response.aiter_bytes():
                out = resampler.feed(chunk)
                if out:
                    yield out
        finally:
            await response.aclose()
        tail = resampler.flush()
        if tail:
            yield tail
