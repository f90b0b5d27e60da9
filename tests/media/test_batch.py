"""A clock slot's streams share one block of audio work: each call must still get exactly its own audio."""

from __future__ import annotations

import asyncio

import numpy as np

from outdial.media import PCMA, PCMU, MediaClock, MediaStream, g711
from tests.media.signals import best_correlation, speech_like

# (rate, payload type) of each pair of calls: the block mixes rates (one goes through soxr), codecs.
PAIRS = [(8000, PCMU), (8000, PCMA), (16000, PCMU), (16000, PCMA), (24000, PCMU), (22050, PCMU)]


async def test_streams_sharing_a_slot_each_get_their_own_audio() -> None:
    clock = MediaClock(slots=1)  # every stream in the one slot: the batch holds them all
    streams: list[MediaStream] = []
    try:
        heard: dict[int, list[bytes]] = {}
        sources: list[bytes] = []
        for index, (rate, payload_type) in enumerate(PAIRS):
            a = await MediaStream.open("127.0.0.1", 0, rate, clock=clock)
            b = await MediaStream.open("127.0.0.1", 0, rate, clock=clock)
            streams += [a, b]
            a.configure(("127.0.0.1", b.local_port), payload_type, 101)
            b.configure(("127.0.0.1", a.local_port), payload_type, 101)
            heard[index] = []
            b.set_audio_handler(heard[index].append)
            source = speech_like(1.0, rate, seed=index + 1)
            sources.append(source)
            a.write(source)
        assert clock.stream_count == 2 * len(PAIRS)
        await asyncio.sleep(1.3)
        for index, (rate, payload_type) in enumerate(PAIRS):
            received = b"".join(heard[index])
            assert {len(frame) for frame in heard[index]} == {rate // 50 * 2}
            if rate == 8000:
                # No resampling: what arrives is exactly the G.711 round trip of what was written.
                encode = g711.ulaw_encode if payload_type == PCMU else g711.alaw_encode
                decode = g711.ulaw_decode if payload_type == PCMU else g711.alaw_decode
                expected = decode(encode(sources[index]))
                assert expected[: 320 * 40] in received
            else:
                corr, _lag = best_correlation(sources[index], received, max_lag=rate * 120 // 1000)
                assert corr > 0.9, (rate, payload_type, corr)
        stats = clock.stats()
        assert stats.errors == 0
        assert all(s.stats.packets_lost == 0 for s in streams)
    finally:
        for stream in streams:
            await stream.close()


async def test_a_failing_audio_handler_does_not_stop_the_slot() -> None:
    clock = MediaClock(slots=1)
    a = await MediaStream.open("127.0.0.1", 0, 16000, clock=clock)
    b = await MediaStream.open("127.0.0.1", 0, 16000, clock=clock)
    try:
        a.configure(("127.0.0.1", b.local_port), PCMU)
        b.configure(("127.0.0.1", a.local_port), PCMU)
        frames: list[bytes] = []

        def broken(frame: bytes) -> None:
            raise RuntimeError("handler bug")

        a.set_audio_handler(broken)
        b.set_audio_handler(frames.append)
        a.write(speech_like(0.3, 16000))
        await asyncio.sleep(0.3)
        assert len(frames) >= 10  # b's handler ran every tick although a's raised in the same slot
        assert np.frombuffer(b"".join(frames), dtype="<i2").any()
        assert clock.stats().errors >= 10
    finally:
        await a.close()
        await b.close()
