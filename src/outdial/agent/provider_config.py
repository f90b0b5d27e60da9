"""Validation errors shared by the VAD, STT and TTS provider factories."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


class ProviderConfigError(ValueError):
    """A provider config that cannot work; ``code`` is stable, ``message`` tells the user what to fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def require_api_key(config: Mapping[str, Any], env_var: str, provider: str) -> str:
    """The ``api_key`` of a cloud provider config, else the environment variable, else a clear error."""
    key = config.get("api_key") or os.environ.get(env_var)
    if not key:
        raise ProviderConfigError(
            "missing_api_key",
            f"The {provider} provider needs an API key: set `api_key` in its config or {env_var} "
            "in the environment.",
        )
    return str(key)


def int_option(config: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    """An integer option within [low, high]."""
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProviderConfigError(
            "invalid_provider_config", f"`{name}` must be an integer from {low} to {high}, got {value!r}."
        )
    return value


def choice_option(config: Mapping[str, Any], name: str, default: int, choices: tuple[int, ...]) -> int:
    """An integer option that must be one of ``choices`` (sample rates)."""
    value = config.get(name, default)
    if value not in choices or isinstance(value, bool):
        allowed = ", ".join(str(c) for c in choices)
        raise ProviderConfigError(
            "invalid_provider_config", f"`{name}` must be one of {allowed}, got {value!r}."
        )
    return int(value)


def str_option(config: Mapping[str, Any], name: str, default: str | None) -> str | None:
    value = config.get(name, default)
    if value is not None and not isinstance(value, str):
        raise ProviderConfigError("invalid_provider_config", f"`{name}` must be a string, got {value!r}.")
    return value


def check_provider(config: Mapping[str, Any], kind: str, default: str, known: tuple[str, ...]) -> str:
    """The provider name of a ``kind`` ("vad", "stt", "tts") config, checked against the known ones."""
    if not isinstance(config, Mapping):
        raise ProviderConfigError("invalid_provider_config", f"The {kind} config must be an object.")
    name = config.get("provider", default)
    if name not in known:
        raise ProviderConfigError(
            "unknown_provider",
            f"Unknown {kind} provider {name!r}; choose one of: {', '.join(known)}.",
        )
    return str(name)
