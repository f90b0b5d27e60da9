"""Speech for the provider tests, synthesized by the offline TTS (espeak) in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import pytest

from outdial.agent.tts.espeak import EspeakTTS

Speak = Callable[..., Coroutine[Any, Any, bytes]]


async def synthesize(text: str, voice: str = "en-us", rate: int = 175, sample_rate: int = 16000) -> bytes:
    tts = EspeakTTS(voice=voice, rate=rate, sample_rate=sample_rate)
    return b"".join([chunk async for chunk in tts.synthesize(text)])


def room_noise(ms: int, sample_rate: int = 16000, seed: int = 0) -> bytes:
    """Quiet background noise: what a line carries around speech."""
    rng = np.random.default_rng(seed)
    return rng.normal(0, 30, sample_rate * ms // 1000).astype("<i2").tobytes()


@pytest.fixture
def speak() -> Speak:
    return synthesize


def frames(pcm: bytes, sample_rate: int = 16000, ms: int = 20) -> list[bytes]:
    size = sample_rate * ms // 1000 * 2
    return [pcm[i : i + size] for i in range(0, len(pcm) - size + 1, size)]


def run(coro: Coroutine[Any, Any, bytes]) -> bytes:
    return asyncio.run(coro)


async def settled() -> None:
    """No pocketsphinx decoder loading in the background: a load holds the GIL for 0.1-0.4 s, which is
    not what a latency test times."""
    from outdial.agent.stt.pocketsphinx import _pool

    async with asyncio.timeout(10):
        while _pool.loading:  # noqa: ASYNC110 - observing the loader thread
            await asyncio.sleep(0.01)
