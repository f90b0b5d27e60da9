"""The media clock: one task, 20 ms per stream, absolute deadlines, spread slots, lateness stats."""

from __future__ import annotations

import asyncio
import time

from outdial.media.clock import MediaClock


class Counter:
    def __init__(self, work_s: float = 0.0, fail: bool = False) -> None:
        self.times: list[float] = []
        self.work_s = work_s
        self.fail = fail

    def _on_tick(self) -> None:
        self.times.append(time.monotonic())
        if self.work_s:
            time.sleep(self.work_s)
        if self.fail:
            raise RuntimeError("boom")


async def test_each_stream_ticks_every_20ms_without_drift() -> None:
    clock = MediaClock()
    streams = [Counter() for _ in range(3)]
    for s in streams:
        clock.add(s)
    await asyncio.sleep(1.0)
    for s in streams:
        clock.remove(s)
    for s in streams:
        assert 40 <= len(s.times) <= 60  # sleep() itself may return late on a busy machine
        # Deadlines are absolute: tick k runs near start + k·20 ms, however late earlier ticks were.
        offsets = [t - s.times[0] - 0.020 * k for k, t in enumerate(s.times)]
        assert sorted(offsets)[len(offsets) // 2] < 0.005
        assert sorted(offsets[-10:])[5] < 0.005  # still on time at the end: nothing accumulated
    stats = clock.stats()
    assert stats.ticks == sum(len(s.times) for s in streams)
    assert stats.errors == 0


async def test_a_slow_tick_is_caught_up_rather_than_lost() -> None:
    clock = MediaClock()
    slow = Counter()
    clock.add(slow)
    await asyncio.sleep(0.2)
    slow.work_s = 0.045  # one tick blocks the loop for 45 ms
    await asyncio.sleep(0.03)
    slow.work_s = 0.0
    await asyncio.sleep(0.77)
    clock.remove(slow)
    # Every 20 ms slot got its tick: the ones due during the stall ran right after it.
    assert len(slow.times) == round((slow.times[-1] - slow.times[0]) / 0.020) + 1
    assert clock.stats().max_ms >= 20


async def test_streams_are_spread_over_the_period() -> None:
    clock = MediaClock()
    streams = [Counter() for _ in range(20)]
    for s in streams:
        clock.add(s)
    assert [len(slot) for slot in clock._members] == [2] * 10
    await asyncio.sleep(0.3)
    for s in streams:
        clock.remove(s)
    periods = min(len(s.times) for s in streams)
    spreads = sorted(
        max(s.times[k] for s in streams) - min(s.times[k] for s in streams) for k in range(periods)
    )
    assert spreads[len(spreads) // 2] > 0.012  # not one burst per period: the slots cover the 20 ms


async def test_a_failing_stream_does_not_stop_the_others() -> None:
    clock = MediaClock()
    bad, good = Counter(fail=True), Counter()
    clock.add(bad)
    clock.add(good)
    await asyncio.sleep(0.2)
    clock.remove(bad)
    clock.remove(good)
    assert len(good.times) >= 8
    assert clock.stats().errors == len(bad.times) >= 8


async def test_the_clock_task_ends_with_its_last_stream_and_restarts_with_the_next() -> None:
    clock = MediaClock()
    a = Counter()
    clock.add(a)
    await asyncio.sleep(0.05)
    clock.remove(a)
    await asyncio.sleep(0.05)
    assert clock._task is None
    b = Counter()
    clock.add(b)
    await asyncio.sleep(0.1)
    clock.remove(b)
    assert len(b.times) >= 4


async def test_lateness_percentiles_come_from_the_histogram() -> None:
    clock = MediaClock()
    clock._histogram[5] = 98  # 0.5–0.6 ms
    clock._histogram[40] = 2  # 4.0–4.1 ms
    stats = clock.stats()
    assert stats.ticks == 100
    assert stats.p50_ms == 0.6
    assert stats.p99_ms == 4.1
    clock.reset_stats()
    assert clock.stats().ticks == 0


async def test_after_a_long_stall_the_clock_skips_ahead_instead_of_bursting() -> None:
    clock = MediaClock()
    stalled = Counter()
    clock.add(stalled)
    await asyncio.sleep(0.1)
    stalled.work_s = 0.3  # one tick blocks the loop far beyond MAX_CATCH_UP_S
    await asyncio.sleep(0.03)
    stalled.work_s = 0.0
    before = len(stalled.times)
    await asyncio.sleep(0.2)
    clock.remove(stalled)
    assert clock.stats().skipped_slots >= 100  # ~300 ms of 2 ms slots
    burst = [b - a for a, b in zip(stalled.times[before - 1 :], stalled.times[before:], strict=False)]
    assert min(burst[1:]) > 0.010  # after the stall, ticks are 20 ms apart again, not back to back
