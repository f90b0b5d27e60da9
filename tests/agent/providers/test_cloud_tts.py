"""OpenAI and ElevenLabs TTS against local servers speaking their wire protocols."""

from __future__ import annotations

import statistics
import time

import pytest

from outdial.agent.protocols import TTS
from outdial.agent.tts import ProviderConfigError, make_tts, validate_config
from outdial.agent.tts.elevenlabs import ElevenLabsTTS
from outdial.agent.tts.elevenlabs import SpeechError as ElevenLabsError
from outdial.agent.tts.openai import OpenAITTS
from outdial.agent.tts.openai import SpeechError as OpenAISpeechError
from tests.agent.providers.servers import API_KEY, ElevenLabsServer, OpenAIAudioServer, serve_asgi

TEXT = "Hello, this is the clinic calling to confirm your appointment on Thursday."


async def first_chunk_and_all(tts: TTS, text: str) -> tuple[float, bytes]:
    start = time.perf_counter()
    first = None
    chunks = []
    async for chunk in tts.synthesize(text):
        if first is None:
            first = (time.perf_counter() - start) * 1000
        chunks.append(chunk)
    assert first is not None
    return first, b"".join(chunks)


async def test_openai_tts_streams_24khz_pcm_resampled_to_the_call_rate() -> None:
    server = OpenAIAudioServer()
    async with serve_asgi(server.app()) as base:
        tts = make_tts(
            {"provider": "openai", "api_key": API_KEY, "base_url": f"{base}/v1", "voice": "nova"},
            sample_rate=16000,
        )
        assert isinstance(tts, OpenAITTS) and isinstance(tts, TTS)
        firsts = []
        for _ in range(5):
            first, pcm = await first_chunk_and_all(tts, TEXT)
            firsts.append(first)
    assert server.speech_requests[0] == {
        "model": "gpt-4o-mini-tts",
        "voice": "nova",
        "input": TEXT,
        "response_format": "pcm",
    }
    espeak_16k = b"".join([c async for c in make_tts().synthesize(TEXT)])
    assert abs(len(pcm) - len(espeak_16k)) < 16000 * 2 * 0.05  # same speech, 24 kHz → 16 kHz
    print(f"\nopenai TTS (local server) first chunk: p50 {statistics.median(firsts):.1f} ms")


async def test_openai_tts_with_a_wrong_key_is_a_speech_error() -> None:
    async with serve_asgi(OpenAIAudioServer().app()) as base:
        tts = OpenAITTS(api_key="wrong", base_url=f"{base}/v1")
        with pytest.raises(OpenAISpeechError, match="Incorrect API key"):
            await first_chunk_and_all(tts, "Hi.")


async def test_elevenlabs_streams_pcm_at_the_call_rate_without_resampling() -> None:
    server = ElevenLabsServer()
    async with serve_asgi(server.app()) as base:
        config = {"provider": "elevenlabs", "api_key": API_KEY, "voice": "JBFqnCBsd6RMkjVDRZzb"}
        tts = make_tts({**config, "base_url": base}, sample_rate=8000)
        assert isinstance(tts, ElevenLabsTTS)
        first, pcm = await first_chunk_and_all(tts, TEXT)
    assert server.requests == [
        {
            "voice_id": "JBFqnCBsd6RMkjVDRZzb",
            "output_format": "pcm_8000",
            "text": TEXT,
            "model_id": "eleven_flash_v2_5",
        }
    ]
    assert 3.0 < len(pcm) / 2 / 8000 < 7.0
    print(f"\nelevenlabs TTS (local server) first chunk: {first:.1f} ms")


async def test_elevenlabs_rejection_carries_the_status_and_message() -> None:
    async with serve_asgi(ElevenLabsServer().app()) as base:
        tts = ElevenLabsTTS(api_key="nope", voice_id="v1", base_url=base)
        with pytest.raises(ElevenLabsError, match=r"401.*invalid_api_key"):
            await first_chunk_and_all(tts, "Hi.")
    unreachable = ElevenLabsTTS(api_key=API_KEY, voice_id="v1", base_url="http://127.0.0.1:9")
    with pytest.raises(ElevenLabsError, match="unreachable"):
        await first_chunk_and_all(unreachable, "Hi.")


def test_cloud_tts_without_a_key_fails_at_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    for config in ({"provider": "openai"}, {"provider": "elevenlabs", "voice": "v1"}):
        with pytest.raises(ProviderConfigError) as err:
            validate_config(config)
        assert err.value.code == "missing_api_key"
        assert "api_key" in err.value.message
    with pytest.raises(ProviderConfigError, match="voice"):
        validate_config({"provider": "elevenlabs", "api_key": "k"})
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    validate_config({"provider": "openai"})


async def test_calls_share_one_http_client_per_provider_account_and_loop() -> None:
    one, two = OpenAITTS(api_key="k1"), OpenAITTS(api_key="k1")
    assert one.client is two.client  # the next call reuses the open connection
    assert OpenAITTS(api_key="k2").client is not one.client
    el = ElevenLabsTTS(api_key="k1", voice_id="a"), ElevenLabsTTS(api_key="k1", voice_id="b")
    assert el[0]._client is el[1]._client
