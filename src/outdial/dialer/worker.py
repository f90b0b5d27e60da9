"""The dialer worker: claims due calls, admits them within every limit, runs each attempt to its end.

``await Worker(db, settings, placer, worker_id=...).run()`` until ``await worker.stop()``. Several
workers may share a PostgreSQL database; SQLite takes one worker per database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from outdial.config import Settings
from outdial.dialer import admit as admission
from outdial.dialer.attempts import (
    record_answered,
    record_end,
    record_ringing,
    record_sip_call_id,
    record_turn,
)
from outdial.dialer.claim import Claimed, next_due_at, reader, release
from outdial.dialer.clock import Clock, SystemClock
from outdial.dialer.leases import heartbeat, reap_lost, register_worker, unregister_worker
from outdial.dialer.notify import CANCEL_PREFIX, Listener
from outdial.dialer.placer import AttemptHandle, AttemptResult, CallPlacer, CallSnapshot
from outdial.dialer.progress import Job, ProgressWriter
from outdial.dialer.settings import DialerSettings
from outdial.lifecycle import EndReason
from outdial.store.db import Database

log = logging.getLogger(__name__)


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass
class _Live:
    call: CallSnapshot
    handle: AttemptHandle
    trunk_id: str | None
    answered_at: float | None = None  # monotonic
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


class Worker:
    """One dialer process's worth of calls.

    ``settings``: :class:`DialerSettings` (or the service :class:`~outdial.config.Settings`, in which
    case the dialer reads its own ``OUTDIAL_DIALER_*`` variables). ``clock`` decides due times,
    windows and leases (tests inject a :class:`~outdial.dialer.clock.ManualClock`).
    ``media_lateness_ms``: how late the media clock runs now; while it exceeds
    ``max_media_lateness_ms`` the worker admits no new call.
    """

    def __init__(
        self,
        db: Database,
        settings: DialerSettings | Settings | None,
        placer: CallPlacer,
        *,
        worker_id: str | None = None,
        clock: Clock | None = None,
        media_lateness_ms: Callable[[], float] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings if isinstance(settings, DialerSettings) else DialerSettings()
        self.placer = placer
        self.worker_id = worker_id or default_worker_id()
        self.clock: Clock = clock or SystemClock()
        self._lateness = media_lateness_ms
        self._held: dict[str, Claimed] = {}  # claimed, not yet dialing
        self._live_reserved = 0  # admitted, their attempt task not yet started
        self._starved = False  # the last claim was cut short: look again as soon as a call ends
        self._live: dict[str, _Live] = {}
        self._blocked: dict[tuple[str, str], float] = {}  # ("trunk"|"org", id) -> monotonic until
        self._trunk_gates: dict[str, asyncio.Lock] = {}
        self._last_send: dict[str, float] = {}  # trunk id -> monotonic instant of its last INVITE
        self._pace_gates: dict[str, asyncio.Lock] = {}  # trunk id -> its calls' turn to wait
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self.listener = Listener(db.url, self._on_message)
        self.progress = ProgressWriter(db)  # every live call's progress writes, batched
        self._reader = reader(db)

    # --- lifecycle ------------------------------------------------------------------------------
    async def run(self) -> None:
        """Dial until :meth:`stop`; returns once every call of this worker is recorded."""
        self._running = True
        self.progress.start()
        now = self.clock.now()
        await register_worker(self.db, self.worker_id, self.settings.max_live_calls, now)
        await reap_lost(self.db, now=now, owner=self.worker_id)
        await self.listener.start()
        background = [
            asyncio.create_task(self._heartbeats(), name="dialer-heartbeat"),
            asyncio.create_task(self._reaper(), name="dialer-reaper"),
        ]
        try:
            await self._dispatch()
        finally:
            await self._drain()
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self.listener.stop()
            await self.progress.close()
            await unregister_worker(self.db, self.worker_id, self.clock.now())
            self._stopped.set()

    async def stop(self) -> None:
        """Stop claiming, give back claimed calls, let live calls finish (up to ``drain_seconds``)."""
        self._stopping.set()
        self._wake.set()
        if self._running:
            await self._stopped.wait()

    def wake(self) -> None:
        """Look for due calls now (also what a NOTIFY does)."""
        self._wake.set()

    @property
    def live_calls(self) -> int:
        return len(self._live)

    @property
    def held_calls(self) -> int:
        return len(self._held)

    # --- claiming and admission ----------------------------------------------------------------
    def _free_slots(self) -> int:
        # A late media clock stops admission; with no live call of ours the lateness is not ours to fix.
        busy = bool(self._live) or self._live_reserved > 0
        if busy and self._lateness is not None and self._lateness() > self.settings.max_media_lateness_ms:
            return 0
        return self.settings.max_live_calls - len(self._held) - len(self._live) - self._live_reserved

    def _blocked_keys(self, kind: str) -> set[str]:
        now = time.monotonic()
        for key, until in list(self._blocked.items()):
            if until <= now:
                del self._blocked[key]
        return {k for (kd, k) in self._blocked if kd == kind}

    async def _dispatch(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            admitted: list[admission.Admitted] = []
            claimed: list[Claimed] = []
            limit = min(self._free_slots(), self.settings.claim_batch)
            self._starved = limit <= 0
            try:
                if limit > 0:
                    admitted, claimed = await admission.claim_and_admit(
                        self.db,
                        self.worker_id,
                        now=self.clock.now(),
                        limit=limit,
                        lease_seconds=self.settings.lease_seconds,
                        skip_trunks=self._blocked_keys("trunk"),
                        skip_orgs=self._blocked_keys("org"),
                    )
            except Exception:
                log.exception("claiming due calls failed; retrying")
                await self._sleep(self.settings.poll_seconds)
                continue
            for a in admitted:
                self._live_reserved += 1
                self._spawn(self._go(a), name=f"dial-{a.call.id}")
            for c in claimed:
                self._held[c.id] = c
                self._spawn(self._dial(c), name=f"dial-{c.id}")
            if limit and len(admitted) + len(claimed) == limit:
                self._starved = True  # there may be more due: claim again as slots free
                continue
            await self._sleep(await self._idle_timeout())

    async def _idle_timeout(self) -> float:
        timeout = self.settings.poll_seconds
        if self._blocked:
            timeout = min(timeout, max(0.01, min(self._blocked.values()) - time.monotonic()))
        try:
            due = await next_due_at(self._reader, self.clock.now())
        except Exception:
            return timeout
        if due is not None:
            timeout = min(timeout, max(0.0, (due - self.clock.now()).total_seconds()))
        return timeout

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _go(self, admitted: admission.Admitted) -> None:
        """An attempt admitted in the claiming transaction: straight to the INVITE."""
        try:
            self._live_reserved -= 1
            await self._run_attempt(admitted.call)
        except Exception:
            log.exception("dialing call %s failed", admitted.call.id)
        finally:
            self._slot_freed()

    async def _dial(self, claimed: Claimed) -> None:
        try:
            outcome = await self._admit(claimed)
            if isinstance(outcome, admission.Blocked):
                self._blocked[(outcome.kind, outcome.key)] = (
                    time.monotonic() + self.settings.blocked_retry_seconds
                )
            elif isinstance(outcome, admission.Admitted):
                self._held.pop(claimed.id, None)
                await self._wait_for_slot(outcome)
                await self._run_attempt(outcome.call)
        except Exception:
            log.exception("dialing call %s failed", claimed.id)
        finally:
            self._held.pop(claimed.id, None)
            self._slot_freed()

    def _slot_freed(self) -> None:
        # Claiming again is worth a transaction only if the last claim was cut short by capacity or
        # by a full trunk/org that this call's end may have opened; otherwise NOTIFY and polls suffice.
        if self._starved:
            self._starved = False
            self._wake.set()

    async def _wait_for_slot(self, admitted: admission.Admitted) -> None:
        """Until the call's slot; on a paced trunk also at least ``1/cps`` after this worker's previous
        call to it left this wait (when it did, not when it was planned to): a wake-up that came late
        must not let the next INVITE follow it at once."""
        send = time.monotonic() + max(0.0, (admitted.send_at - self.clock.now()).total_seconds())
        trunk = admitted.call.trunk
        if trunk is None or not trunk.calls_per_second:
            await _sleep_until(send)
            return
        async with self._pace_gates.setdefault(trunk.id, asyncio.Lock()):  # one waiter per trunk, in order
            await _sleep_until(max(send, self._last_send.get(trunk.id, 0.0) + 1.0 / trunk.calls_per_second))
            self._last_send[trunk.id] = time.monotonic()

    async def _admit(self, claimed: Claimed) -> admission.Admission:
        gate: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext()
        if claimed.paced and claimed.trunk_id:
            gate = self._trunk_gates.setdefault(claimed.trunk_id, asyncio.Lock())
        async with gate:  # on a paced trunk, this worker's calls take their turn in order
            while True:
                if self._stopping.is_set():
                    await release(self.db, self.worker_id, [claimed.id])
                    return admission.Gone("worker stopping")
                outcome = await admission.admit(
                    self.db,
                    self.worker_id,
                    claimed.id,
                    now=self.clock.now(),
                    lease_seconds=self.settings.lease_seconds,
                )
                if not isinstance(outcome, admission.Wait):
                    return outcome
                await asyncio.sleep(min(outcome.seconds, 1.0))

    # --- one attempt ----------------------------------------------------------------------------
    async def _run_attempt(self, call: CallSnapshot) -> None:
        wid, clock, cid, aid = self.worker_id, self.clock, call.id, call.attempt_id
        live: _Live
        sip_call_id: list[str] = []  # known, not yet queued for writing

        def queue_sip_call_id() -> None:
            # The SIP Call-ID goes with the attempt's next write (ringing, answer or end), not alone.
            if sip_call_id:
                value = sip_call_id.pop()
                self.progress.put(cid, aid, lambda s: record_sip_call_id(s, aid, value))

        def put(job: Job) -> None:
            queue_sip_call_id()
            self.progress.put(cid, aid, job)

        def on_ringing() -> None:
            now = clock.now()
            put(lambda s: record_ringing(s, cid, aid, wid, now))

        def on_answered(answered_by: str | None) -> None:
            now = clock.now()
            live.answered_at = time.monotonic()
            put(lambda s: record_answered(s, cid, aid, wid, now, answered_by))
            live.tasks.append(asyncio.create_task(self._answered_timers(live)))

        def on_sip_call_id(value: str) -> None:
            sip_call_id[:] = [value]

        def on_turn(turn: dict[str, Any]) -> None:
            put(lambda s: record_turn(s, cid, wid, turn))

        handle = AttemptHandle(
            on_ringing=on_ringing, on_answered=on_answered, on_sip_call_id=on_sip_call_id, on_turn=on_turn
        )
        live = _Live(call=call, handle=handle, trunk_id=call.trunk.id if call.trunk else None)
        self._live[call.id] = live
        place = asyncio.create_task(self.placer.place(call, handle), name=f"place-{call.id}")
        live.tasks.append(asyncio.create_task(self._ring_timer(live)))
        live.tasks.append(asyncio.create_task(self._enforce_end(live, place)))
        try:
            result = await place
        except asyncio.CancelledError:
            if not place.cancelled():
                raise
            result = AttemptResult(
                end_reason=handle.end_reason or EndReason.INTERNAL_ERROR,
                answered=handle.answered,
                error="the call did not end in time after it was asked to",
            )
        except Exception as exc:
            log.exception("placing call %s failed", call.id)
            result = AttemptResult(
                end_reason=EndReason.INTERNAL_ERROR,
                answered=handle.answered,
                error=f"{type(exc).__name__}: {exc}",
            )
        finally:
            for task in live.tasks:
                task.cancel()
        ended_at = self.clock.now()
        queue_sip_call_id()
        written = self.progress.put_last(cid, aid, lambda s: record_end(s, cid, aid, wid, result, ended_at))
        try:
            await asyncio.shield(written)
        finally:
            self._live.pop(call.id, None)
            for key in (("trunk", live.trunk_id or ""), ("org", call.org_id)):
                if self._blocked.pop(key, None) is not None:
                    self._starved = True

    async def _ring_timer(self, live: _Live) -> None:
        await asyncio.sleep(live.call.ring_timeout_seconds)
        if not live.handle.answered:
            live.handle.request_end(EndReason.NO_ANSWER)

    async def _answered_timers(self, live: _Live) -> None:
        call = live.call
        hold = call.max_hold_seconds
        if hold is not None and hold < call.max_duration_seconds:
            await asyncio.sleep(hold)
            if not live.handle.human_speech:
                live.handle.request_end(EndReason.MAX_HOLD)
                return
            await asyncio.sleep(call.max_duration_seconds - hold)
        else:
            await asyncio.sleep(call.max_duration_seconds)
        live.handle.request_end(EndReason.MAX_DURATION)

    async def _enforce_end(self, live: _Live, place: asyncio.Task[AttemptResult]) -> None:
        await live.handle.wait_end_request()
        await asyncio.sleep(self.settings.end_grace_seconds)
        if not place.done():
            log.error(
                "call %s: placer ignored the end request for %.0fs",
                live.call.id,
                self.settings.end_grace_seconds,
            )
            place.cancel()

    # --- messages, heartbeats, reaping, stopping -----------------------------------------------
    def _on_message(self, payload: str) -> None:
        if payload.startswith(CANCEL_PREFIX):
            live = self._live.get(payload[len(CANCEL_PREFIX) :])
            if live is not None:
                live.handle.request_end(EndReason.CANCELED)
            return
        self._wake.set()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            ids = set(self._held) | set(self._live)
            try:
                kept, cancels = await heartbeat(
                    self.db,
                    self.worker_id,
                    ids,
                    now=self.clock.now(),
                    lease_seconds=self.settings.lease_seconds,
                    live=len(self._live),
                )
            except Exception:
                log.exception("heartbeat failed")
                continue
            for call_id in cancels:
                self._on_message(CANCEL_PREFIX + call_id)
            for call_id in ids - kept:
                live = self._live.get(call_id)
                if live is not None:
                    log.error("call %s: lease lost while live; hanging up", call_id)
                    live.handle.request_end(EndReason.WORKER_LOST)

    async def _reaper(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reap_seconds)
            try:
                if await reap_lost(self.db, now=self.clock.now()):
                    self._wake.set()
            except Exception:
                log.exception("reaping lost calls failed")

    async def _drain(self) -> None:
        with contextlib.suppress(Exception):
            await release(self.db, self.worker_id, list(self._held))
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.settings.drain_seconds)
        for live in list(self._live.values()):
            live.handle.request_end(EndReason.WORKER_LOST)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.settings.end_grace_seconds + 5)


async def _sleep_until(instant: float) -> None:
    """Sleep until a ``time.monotonic()`` instant (at once if it has passed)."""
    delay = instant - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
