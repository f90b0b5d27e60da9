"""Speech synthesizers: ``espeak`` (offline, default), ``openai`` and ``elevenlabs`` (streaming)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outdial.agent.protocols import TTS
from outdial.agent.provider_config import (
    ProviderConfigError,
    check_provider,
    int_option,
    require_api_key,
    str_option,
)

PROVIDERS = ("espeak", "openai", "elevenlabs")
DEFAULT = "espeak"

__all__ = ["DEFAULT", "PROVIDERS", "ProviderConfigError", "make_tts", "validate_config"]


def _espeak(config: Mapping[str, Any], sample_rate: int) -> Any:
    from outdial.agent.tts.espeak import EspeakTTS

    return EspeakTTS(
        voice=str_option(config, "voice", None) or "en-us",
        rate=int_option(config, "rate", 175, 80, 450),
        pitch=int_option(config, "pitch", 50, 0, 100),
        volume=int_option(config, "volume", 100, 0, 200),
        sample_rate=sample_rate,
    )


def validate_config(config: Mapping[str, Any] | None) -> None:
    """Raise ``ProviderConfigError`` when ``config`` cannot build a synthesizer (e.g. a missing API key)."""
    config = config or {}
    provider = check_provider(config, "tts", DEFAULT, PROVIDERS)
    if provider == "espeak":
        from outdial.agent.tts.espeak import EspeakError

        try:
            _espeak(config, 16000).check_voice()
        except EspeakError as exc:
            raise ProviderConfigError("invalid_provider_config", str(exc)) from None
        return
    for name in ("model", "voice", "base_url"):
        str_option(config, name, None)
    if provider == "openai":
        require_api_key(config, "OPENAI_API_KEY", "openai TTS")
    else:
        require_api_key(config, "ELEVENLABS_API_KEY", "elevenlabs TTS")
        if not config.get("voice"):
            raise ProviderConfigError(
                "invalid_provider_config", "The elevenlabs TTS needs a `voice` (an ElevenLabs voice id)."
            )


def make_tts(config: Mapping[str, Any] | None = None, *, sample_rate: int = 16000) -> TTS:
    """A synthesizer from an agent's ``tts`` config producing PCM16 at ``sample_rate``."""
    config = config or {}
    validate_config(config)
    provider = config.get("provider", DEFAULT)
    if provider == "openai":
        from outdial.agent.tts.openai import OpenAITTS

        return OpenAITTS(
            api_key=require_api_key(config, "OPENAI_API_KEY", "openai TTS"),
            model=str_option(config, "model", None) or "gpt-4o-mini-tts",
            voice=str_option(config, "voice", None) or "alloy",
            base_url=str_option(config, "base_url", None),
            sample_rate=sample_rate,
        )
    if provider == "elevenlabs":
        from outdial.agent.tts.elevenlabs import ElevenLabsTTS

        return ElevenLabsTTS(
            api_key=require_api_key(config, "ELEVENLABS_API_KEY", "elevenlabs TTS"),
            voice_id=str(config["voice"]),
            model=str_option(config, "model", None) or "eleven_flash_v2_5",
            base_url=str_option(config, "base_url", None) or "https://api.elevenlabs.io",
            sample_rate=sample_rate,
        )
    return _espeak(config, sample_rate)
