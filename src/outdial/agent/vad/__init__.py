"""Voice activity detectors: ``webrtc`` (default) and ``silero``; ``make_vad`` builds one from a config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outdial.agent.protocols import VAD
from outdial.agent.provider_config import ProviderConfigError, check_provider, int_option

PROVIDERS = ("webrtc", "silero")
DEFAULT = "webrtc"

__all__ = ["DEFAULT", "PROVIDERS", "ProviderConfigError", "make_vad", "validate_config"]


def validate_config(config: Mapping[str, Any] | None) -> None:
    """Raise ``ProviderConfigError`` when ``config`` cannot build a VAD."""
    config = config or {}
    provider = check_provider(config, "vad", DEFAULT, PROVIDERS)
    if provider == "webrtc":
        int_option(config, "aggressiveness", 2, 0, 3)
    else:
        from outdial.agent.vad.silero import SileroModelMissing, find_model

        try:
            find_model()
        except SileroModelMissing as exc:
            raise ProviderConfigError("provider_unavailable", str(exc)) from None


def make_vad(config: Mapping[str, Any] | None = None, *, sample_rate: int = 16000) -> VAD:
    """A VAD for 20 ms PCM16 frames at ``sample_rate`` (8000 or 16000)."""
    config = config or {}
    validate_config(config)
    if config.get("provider", DEFAULT) == "silero":
        from outdial.agent.vad.silero import SileroVAD

        return SileroVAD(sample_rate)
    from outdial.agent.vad.webrtc import WebRtcVAD

    return WebRtcVAD(sample_rate, int_option(config, "aggressiveness", 2, 0, 3))
