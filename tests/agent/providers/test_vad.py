"""VADs: webrtcvad (default) and silero (when its model files are installed)."""

from __future__ import annotations

import importlib.metadata
import time

import pytest

from outdial.agent.protocols import VAD
from outdial.agent.vad import ProviderConfigError, make_vad, validate_config
from outdial.agent.vad.webrtc import WebRtcVAD
from tests.agent.providers.conftest import Speak, frames, room_noise


def speech_share(vad: VAD, pcm: bytes, sample_rate: int = 16000) -> float:
    probs = [vad.feed(f) for f in frames(pcm, sample_rate)]
    return sum(p > 0.5 for p in probs) / len(probs)


async def test_webrtc_is_the_default_and_separates_speech_from_noise(speak: Speak) -> None:
    vad = make_vad()
    assert isinstance(vad, WebRtcVAD) and isinstance(vad, VAD)
    speech = await speak("Hello, this is the clinic calling about your appointment on Thursday.")
    assert speech_share(vad, room_noise(2000)) < 0.1  # its noise model settles within ~100 ms
    assert speech_share(vad, speech) > 0.7


async def test_webrtc_works_on_8khz_telephone_frames(speak: Speak) -> None:
    vad = make_vad({"provider": "webrtc", "aggressiveness": 3}, sample_rate=8000)
    speech = await speak("Yes, this is John speaking.", sample_rate=8000)
    assert vad.sample_rate == 8000
    assert speech_share(vad, room_noise(1000, 8000), 8000) < 0.1
    assert speech_share(vad, speech, 8000) > 0.6


def test_webrtc_rejects_a_frame_that_is_not_20ms() -> None:
    with pytest.raises(ValueError, match="20 ms"):
        WebRtcVAD(16000).feed(bytes(480))


def test_webrtc_costs_microseconds_per_frame() -> None:
    vad = WebRtcVAD(16000)
    frame = room_noise(20)
    start = time.perf_counter()
    for _ in range(2000):
        vad.feed(frame)
    per_frame_us = (time.perf_counter() - start) / 2000 * 1e6
    print(f"\nwebrtcvad: {per_frame_us:.1f} µs per 20 ms frame")
    assert per_frame_us < 50


@pytest.mark.parametrize(
    ("config", "code"),
    [
        ({"provider": "webrtc", "aggressiveness": 7}, "invalid_provider_config"),
        ({"provider": "webrtc", "aggressiveness": "2"}, "invalid_provider_config"),
        ({"provider": "cobra"}, "unknown_provider"),
    ],
)
def test_a_bad_vad_config_is_a_coded_error(config: dict[str, object], code: str) -> None:
    with pytest.raises(ProviderConfigError) as err:
        validate_config(config)
    assert err.value.code == code


def _silero_installed() -> bool:
    try:
        from outdial.agent.vad.silero import find_model

        find_model()
    except (RuntimeError, importlib.metadata.PackageNotFoundError):
        return False
    return True


needs_silero = pytest.mark.skipif(
    not _silero_installed(), reason="silero model absent: pip install --no-deps silero-vad"
)


@needs_silero
async def test_silero_separates_speech_from_noise_and_keeps_its_state(speak: Speak) -> None:
    vad = make_vad({"provider": "silero"})
    speech = await speak("Hello, this is the clinic calling about your appointment on Thursday.")
    assert speech_share(vad, room_noise(300) + speech) > 0.5
    vad.reset()
    assert speech_share(vad, room_noise(2000)) < 0.05


@needs_silero
def test_silero_buffers_20ms_frames_into_512_sample_windows() -> None:
    vad = make_vad({"provider": "silero"}, sample_rate=16000)
    frame = room_noise(20)
    start = time.perf_counter()
    probs = [vad.feed(frame) for _ in range(200)]
    per_frame_us = (time.perf_counter() - start) / 200 * 1e6
    print(f"\nsilero: {per_frame_us:.0f} µs per 20 ms frame")
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert make_vad({"provider": "silero"}, sample_rate=8000).feed(room_noise(20, 8000)) == 0.0
