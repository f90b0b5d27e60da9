"""Fixtures for media tests: open streams on loopback and close them whatever happens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from outdial.media import MediaClock, MediaStream

OpenStream = Callable[..., Awaitable[MediaStream]]


@pytest.fixture
async def clock() -> MediaClock:
    """A clock of this test's own, so lateness figures are not shared between tests."""
    return MediaClock()


@pytest.fixture
async def open_stream(clock: MediaClock) -> AsyncIterator[OpenStream]:
    streams: list[MediaStream] = []

    async def _open(sample_rate: int = 16000) -> MediaStream:
        stream = await MediaStream.open(host="127.0.0.1", port=0, sample_rate=sample_rate, clock=clock)
        streams.append(stream)
        return stream

    yield _open
    for stream in streams:
        await stream.close()
