"""The real CallPlacer: an INVITE through the org's trunk (``outdial.sip``), an agent session on answer.

The agent session is built while the phone rings and its first message synthesized then
(``prepare()``), so it can speak the instant the callee answers (``start()``). End requests from the
dialer become CANCEL before the answer and BYE after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from outdial.dialer.placer import AttemptHandle, AttemptResult, CallSnapshot
from outdial.lifecycle import EndReason
from outdial.sip import Answered, EarlyMedia, Ended, Ringing, TransferFailed, TrunkConfig, UserAgent
from outdial.sip import Call as SipCall

log = logging.getLogger(__name__)

SPEECH_POLL_S = 0.1
PREPARE_WAIT_S = 2.0  # on answer, how long to wait for a first message still being synthesized


class AgentRun(Protocol):
    """The part of an agent session the placer drives (``outdial.agent.session.AgentSession``)."""

    async def prepare(self) -> None: ...

    def start(self) -> None: ...

    async def stop(self, reason: EndReason | str = ...) -> Any: ...

    @property
    def result(self) -> Any: ...

    @property
    def human_speech_detected_ms(self) -> float | None:
        """Answer → the callee's first human speech (not music or tones); None until then."""
        ...


SessionFactory = Callable[[CallSnapshot, SipCall, Callable[[dict[str, Any]], None]], AgentRun]


def agent_sessions(recording_dir: Path | None = None) -> SessionFactory:
    """Sessions built from each call's agent config snapshot, recording into ``recording_dir``."""
    from outdial.agent.runtime import build_session

    def make(call: CallSnapshot, sip_call: SipCall, on_turn: Callable[[dict[str, Any]], None]) -> AgentRun:
        assert sip_call.media is not None

        async def hangup(_reason: EndReason) -> None:
            await sip_call.hangup()

        async def transfer(to: str) -> str | None:
            """A blind transfer (SIP REFER); the session hangs up after it, or apologizes if it failed."""
            try:
                await sip_call.transfer(to, hang_up=False)
            except (TransferFailed, ValueError) as exc:
                return str(exc)
            return None

        return build_session(
            agent_config(call),
            sip_call.media,
            hangup=hangup,
            transfer=transfer,
            recording_dir=recording_dir,
            call_id=f"{call.id}-{call.attempt_number}",
            variables=call.variables,
            call_context=call.call_context,
            metadata=call.request_metadata if isinstance(call.request_metadata, dict) else None,
            on_turn=lambda turn: on_turn(asdict(turn)),
        )

    return make


def agent_config(call: CallSnapshot) -> Any:
    """The call's agent config as the runtime reads it; fields it does not know are left out."""
    from outdial.agent.settings import AgentConfig

    known = AgentConfig.model_fields
    values = {k: v for k, v in call.agent_config.items() if k in known}
    values.setdefault("name", call.agent_config.get("name") or "agent")
    values["ring_timeout_seconds"] = max(5, call.ring_timeout_seconds)
    values["max_duration_seconds"] = max(10, call.max_duration_seconds)
    values["max_hold_seconds"] = call.max_hold_seconds
    return AgentConfig.model_validate(values)


def invite_headers(call: CallSnapshot) -> dict[str, str]:
    """The call's own X- headers, plus ours naming the call and attempt (for the trunk's logs and ours)."""
    headers = dict(call.sip_headers)
    headers["X-Outdial-Call-Id"] = call.id
    headers["X-Outdial-Attempt"] = str(call.attempt_number)
    return headers


def trunk_config(call: CallSnapshot) -> TrunkConfig:
    assert call.trunk is not None
    t = call.trunk
    return TrunkConfig(
        address=t.address,
        transport=(call.transport or t.transport or "udp"),  # type: ignore[arg-type]
        username=t.username,
        password=t.password,
        media_encryption=(call.media_encryption or t.media_encryption or "none"),  # type: ignore[arg-type]
    )


SIP_RCVBUF = 4 << 20


def widen_receive_buffer(ua: UserAgent, size: int = SIP_RCVBUF) -> None:
    """Give the UDP SIP socket room for a burst of responses.

    A dialer sends INVITEs in batches; their 180s and 200s come back together, and on loopback each
    small datagram costs ~2 KB of the default 208 KB buffer: a batch of fifty calls overflowed it and
    the kernel dropped responses (RcvbufErrors) while the event loop was busy.
    """
    endpoint = getattr(ua.transport, "udp", None)
    transport = getattr(endpoint, "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


class MediaLateness:
    """How late the shared media clock runs (p99 of the last second, in ms): the worker's load gauge."""

    def __init__(self, window_s: float = 1.0) -> None:
        from outdial.media.clock import default_clock

        self._clock = default_clock()
        self._window = window_s
        self._since = time.monotonic()
        self._value = 0.0

    def __call__(self) -> float:
        now = time.monotonic()
        if now - self._since >= self._window:
            stats = self._clock.stats()
            self._value = stats.p99_ms if stats.ticks else 0.0
            self._clock.reset_stats()
            self._since = now
        return self._value


class SipPlacer:
    """Places each attempt as a SIP call through its trunk, talked through by an agent session.

    ``sessions=None`` connects answered calls without an agent (benchmarks, trunk tests).
    """

    def __init__(self, ua: UserAgent, *, sessions: SessionFactory | None, owns_ua: bool = False) -> None:
        self.ua = ua
        self.sessions = sessions
        self._owns_ua = owns_ua

    @classmethod
    async def start(
        cls,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        recording_dir: Path | None = None,
        agent: bool = True,
    ) -> SipPlacer:
        ua = await UserAgent.start(host, port)
        widen_receive_buffer(ua)
        return cls(ua, sessions=agent_sessions(recording_dir) if agent else None, owns_ua=True)

    async def close(self) -> None:
        if self._owns_ua:
            await self.ua.close()

    async def place(self, call: CallSnapshot, handle: AttemptHandle) -> AttemptResult:
        if call.trunk is None:
            return AttemptResult(
                end_reason=EndReason.TRUNK_ERROR, error="the call has no SIP trunk to dial through"
            )
        try:
            trunk = trunk_config(call)
            if self.sessions is not None:
                agent_config(call)  # a config the runtime cannot read fails before any INVITE
        except ValueError as exc:
            return AttemptResult(end_reason=EndReason.INTERNAL_ERROR, error=f"cannot place the call: {exc}")
        try:
            sip_call = await self.ua.invite(
                trunk,
                to=call.to_number,
                from_=call.from_number,
                headers=invite_headers(call),
                ring_timeout=float(call.ring_timeout_seconds),
            )
        except ValueError as exc:
            return AttemptResult(end_reason=EndReason.INTERNAL_ERROR, error=f"cannot place the call: {exc}")
        handle.sip_call_id(sip_call.sip_call_id)
        try:
            return await _Attempt(call, handle, sip_call, self.sessions).run()
        except BaseException:
            # Whatever broke on our side, the callee must not be left ringing or on a silent line.
            if sip_call.ended is None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(sip_call.hangup())
            raise


class _Attempt:
    """One SIP call from INVITE to its end, with its agent session."""

    def __init__(
        self, call: CallSnapshot, handle: AttemptHandle, sip_call: SipCall, sessions: SessionFactory | None
    ) -> None:
        self.call = call
        self.handle = handle
        self.sip_call = sip_call
        self.session: AgentRun | None = None
        if sessions is not None and sip_call.media is not None and sip_call.ended is None:
            self.session = sessions(call, sip_call, handle.turn)
        self.prepare: asyncio.Task[None] | None = None
        self.watch: asyncio.Task[None] | None = None

    async def run(self) -> AttemptResult:
        if self.session is not None:
            self.prepare = asyncio.create_task(self.session.prepare())
        follow = asyncio.create_task(self._follow())
        request = asyncio.create_task(self.handle.wait_end_request())
        try:
            await asyncio.wait({follow, request}, return_when=asyncio.FIRST_COMPLETED)
            if not follow.done():
                await self._end_on_request(self.handle.end_reason or EndReason.CANCELED)
            ended = await follow
            return await self._result(ended)
        finally:
            for task in (request, self.prepare, self.watch):
                if task is not None and not task.done():
                    task.cancel()
            if not follow.done():
                follow.cancel()

    async def _follow(self) -> Ended:
        async for event in self.sip_call.events():
            if isinstance(event, Ringing | EarlyMedia):
                self.handle.ringing()
            elif isinstance(event, Answered):
                self.handle.answered_call()
                if self.session is None and self.sip_call.media is not None:
                    # No agent, nothing to say: do not spend a media tick per call sending silence.
                    self.sip_call.media.set_direction("recvonly")
                await self._start_agent()
            elif isinstance(event, Ended):
                return event
        raise RuntimeError("call events ended without Ended")

    async def _start_agent(self) -> None:
        if self.session is None:
            return
        if self.prepare is not None and not self.prepare.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.prepare), PREPARE_WAIT_S)
        self.session.start()
        self.watch = asyncio.create_task(self._watch_speech())

    async def _watch_speech(self) -> None:
        """Tell the dialer when the callee first speaks (it ends the call at max_hold otherwise)."""
        session = self.session
        while session is not None and session.result is None:
            if session.human_speech_detected_ms is not None:
                self.handle.human_speech_detected()
                return
            await asyncio.sleep(SPEECH_POLL_S)

    async def _end_on_request(self, reason: EndReason) -> None:
        if self.sip_call.answered:
            if self.session is not None and self.session.result is None:
                await self.session.stop(reason)
            await self.sip_call.hangup()
        else:
            await self.sip_call.cancel()

    async def _result(self, ended: Ended) -> AttemptResult:
        answered = self.sip_call.answered
        requested = self.handle.end_reason
        reason = ended.end_reason
        session_result = None
        if self.session is not None and answered:
            agent_ended_first = self.session.result is not None and requested is None
            session_result = self.session.result or await self.session.stop(EndReason.CALLEE_HANGUP)
            if agent_ended_first:
                reason = session_result.end_reason
        if requested is not None and (
            answered or ended.end_reason in (EndReason.CANCELED, EndReason.NO_ANSWER)
        ):
            reason = requested
        result = AttemptResult(
            end_reason=reason,
            answered=answered,
            sip_status_code=ended.sip_status if ended.sip_status is not None else (200 if answered else None),
            error=None if answered else ended.reason,
            sip_call_id=self.sip_call.sip_call_id,
        )
        if session_result is not None:
            result.transcript = session_result.transcript_dicts()
            result.outcome = dict(session_result.outcome) or None
            result.recording_path = (
                str(session_result.recording_path) if session_result.recording_path else None
            )
            result.human_speech_detected_at = session_result.human_speech_detected_at
            result.answered_by = session_result.answered_by  # answering-machine detection, when on
        return result
