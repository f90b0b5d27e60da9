"""The process-wide media clock: one asyncio task drives every stream's 20 ms frames.

One task per stream broke down near 500 streams on this project's machines, where one clock held
1,000 at 77 % of a core. The 20 ms period is split into slots and each stream is given the least
loaded slot, so the work (and the packets on the wire) spread over the period instead of arriving
as one burst. Every deadline is absolute (``start + n · slot``), so scheduling error never
accumulates into drift; a tick that runs late is still run, and its lateness is recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

PERIOD_S = 0.020
# 10 slots of 2 ms: wake-ups stay at 500/s while a slot's streams are sent close to their deadline.
SLOTS = 10
# Further behind than this (a stalled process, a suspended VM) we skip ahead instead of bursting.
MAX_CATCH_UP_S = 0.2

_BUCKET_S = 0.0001  # lateness histogram resolution: 0.1 ms
_BUCKETS = 2001  # 0 .. 200 ms; the last bucket collects everything later


class Tickable(Protocol):
    def _on_tick(self) -> None: ...


# A class may also define ``_slot_prepare(members)`` and ``_slot_finish(members) -> errors``: the clock
# calls them once per slot with that slot's members of the class, before and after their ticks, so
# work can be done for all of them at once (MediaStream: outdial.media.batch).
_Batch = tuple[Callable[[Sequence[Any]], None], Callable[[Sequence[Any]], int], tuple[Any, ...]]
_Plan = tuple[tuple[Tickable, ...], tuple[_Batch, ...]]


@dataclass(frozen=True, slots=True)
class LatenessStats:
    """How late stream ticks (and so their packets) ran against their deadlines, since the last reset."""

    ticks: int  # stream ticks measured (one per stream per 20 ms)
    p50_ms: float
    p99_ms: float
    max_ms: float
    skipped_slots: int  # slots skipped after falling more than MAX_CATCH_UP_S behind
    errors: int  # stream ticks that raised (logged, the clock carried on)


class MediaClock:
    """Calls ``_on_tick()`` of each registered stream once per 20 ms, on the running event loop."""

    def __init__(self, period_s: float = PERIOD_S, slots: int = SLOTS) -> None:
        self.period_s = period_s
        self.slots = slots
        self._slot_s = period_s / slots
        self._members: list[dict[int, Tickable]] = [{} for _ in range(slots)]
        self._plans: list[_Plan] = [((), ()) for _ in range(slots)]
        self._slot_of: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._histogram = [0] * _BUCKETS
        self._max_lateness = 0.0
        self._skipped = 0
        self._errors = 0
        self._now: Callable[[], float] = time.monotonic

    @property
    def stream_count(self) -> int:
        return len(self._slot_of)

    def add(self, stream: Tickable) -> None:
        """Start ticking ``stream`` (from the next free slot); starts the clock task if needed."""
        key = id(stream)
        if key in self._slot_of:
            return
        slot = min(range(self.slots), key=lambda i: len(self._members[i]))
        self._members[slot][key] = stream
        self._plan(slot)
        self._slot_of[key] = slot
        self._ensure_running()

    def remove(self, stream: Tickable) -> None:
        slot = self._slot_of.pop(id(stream), None)
        if slot is None:
            return
        del self._members[slot][id(stream)]
        self._plan(slot)

    def _plan(self, slot: int) -> None:
        members = tuple(self._members[slot].values())
        by_class: dict[type, list[Tickable]] = {}
        for member in members:
            if hasattr(type(member), "_slot_prepare"):
                by_class.setdefault(type(member), []).append(member)
        batches = tuple(
            (cls._slot_prepare, cls._slot_finish, tuple(group))  # type: ignore[attr-defined]
            for cls, group in by_class.items()
        )
        self._plans[slot] = (members, batches)

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        # A previous task belongs to a loop that has ended (tests run one loop each): start afresh.
        self._loop = loop
        self._task = loop.create_task(self._run(), name="outdial-media-clock")

    async def _run(self) -> None:
        now = self._now
        slot_s = self._slot_s
        slots = self.slots
        plans = self._plans
        histogram = self._histogram
        last_bucket = _BUCKETS - 1
        start = now()
        n = 0
        while self._slot_of:
            deadline = start + n * slot_s
            delay = deadline - now()
            # Always yield, even when late, so received packets are read between slots.
            await asyncio.sleep(delay if delay > 0 else 0)
            behind = now() - deadline
            if behind > MAX_CATCH_UP_S:
                skip = int(behind / slot_s)
                self._skipped += skip
                n += skip
                continue
            members, batches = plans[n % slots]
            for prepare, _, group in batches:
                try:
                    prepare(group)
                except Exception:
                    self._errors += len(group)
                    log.exception("media slot preparation failed")
            for stream in members:
                # Measured just before the stream's packet is built: the slot's batch work counts.
                lateness = now() - deadline
                # Timers may fire up to a clock-resolution early: that counts as on time.
                bucket = int(lateness / _BUCKET_S) if lateness > 0 else 0
                histogram[bucket if bucket < last_bucket else last_bucket] += 1
                if lateness > self._max_lateness:
                    self._max_lateness = lateness
                try:
                    stream._on_tick()
                except Exception:
                    self._errors += 1
                    log.exception("media stream tick failed")
            for _, finish, group in batches:
                try:
                    self._errors += finish(group)
                except Exception:
                    self._errors += len(group)
                    log.exception("media slot playout failed")
            n += 1
        self._task = None

    def stats(self) -> LatenessStats:
        total = sum(self._histogram)
        return LatenessStats(
            ticks=total,
            p50_ms=self._percentile(0.50, total),
            p99_ms=self._percentile(0.99, total),
            max_ms=self._max_lateness * 1000.0,
            skipped_slots=self._skipped,
            errors=self._errors,
        )

    def reset_stats(self) -> None:
        self._histogram[:] = [0] * _BUCKETS
        self._max_lateness = 0.0
        self._skipped = 0
        self._errors = 0

    def _percentile(self, q: float, total: int) -> float:
        if not total:
            return 0.0
        target = q * total
        running = 0
        for bucket, count in enumerate(self._histogram):
            running += count
            if running >= target:
                # Upper edge of the bucket: a percentile we report is never better than measured.
                return round((bucket + 1) * _BUCKET_S * 1000.0, 3)
        return round(_BUCKETS * _BUCKET_S * 1000.0, 3)


_default: MediaClock | None = None


def default_clock() -> MediaClock:
    """The process-wide clock shared by every stream opened without an explicit one."""
    global _default
    if _default is None:
        _default = MediaClock()
    return _default


def install_uvloop() -> bool:
    """Make new event loops uvloop loops (if installed); the media clock keeps time better on it."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
