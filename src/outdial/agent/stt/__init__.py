"""Speech recognizers: ``pocketsphinx`` (offline, default), ``openai`` (batch), ``deepgram`` (streaming)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outdial.agent.protocols import STT
from outdial.agent.provider_config import (
    ProviderConfigError,
    check_provider,
    require_api_key,
    str_option,
)

PROVIDERS = ("pocketsphinx", "openai", "deepgram")
DEFAULT = "pocketsphinx"

__all__ = ["DEFAULT", "PROVIDERS", "ProviderConfigError", "make_stt", "validate_config"]


def _free_text(config: Mapping[str, Any]) -> bool:
    value = config.get("free_text", True)
    if not isinstance(value, bool):
        raise ProviderConfigError(
            "invalid_provider_config", f"`free_text` must be true or false, got {value!r}."
        )
    return value


def validate_config(config: Mapping[str, Any] | None) -> None:
    """Raise ``ProviderConfigError`` when ``config`` cannot build a recognizer (e.g. a missing API key)."""
    config = config or {}
    provider = check_provider(config, "stt", DEFAULT, PROVIDERS)
    if provider == "pocketsphinx":
        _free_text(config)
        return
    for name in ("model", "base_url", "language"):
        str_option(config, name, None)
    if provider == "openai":
        require_api_key(config, "OPENAI_API_KEY", "openai STT")
    else:
        require_api_key(config, "DEEPGRAM_API_KEY", "deepgram STT")


def make_stt(config: Mapping[str, Any] | None = None) -> STT:
    """A recognizer from an agent's ``stt`` config (default: pocketsphinx)."""
    config = config or {}
    validate_config(config)
    provider = config.get("provider", DEFAULT)
    if provider == "openai":
        from outdial.agent.stt.openai import OpenAISTT

        return OpenAISTT(
            api_key=require_api_key(config, "OPENAI_API_KEY", "openai STT"),
            model=str_option(config, "model", None) or "whisper-1",
            base_url=str_option(config, "base_url", None),
        )
    if provider == "deepgram":
        from outdial.agent.stt.deepgram import DeepgramSTT

        return DeepgramSTT(
            api_key=require_api_key(config, "DEEPGRAM_API_KEY", "deepgram STT"),
            model=str_option(config, "model", None) or "nova-3",
            base_url=str_option(config, "base_url", None) or "wss://api.deepgram.com",
        )
    from outdial.agent.stt.pocketsphinx import PocketsphinxSTT

    return PocketsphinxSTT(free_text=_free_text(config))
