"""The seam between the dialer and the telephone: a CallPlacer places one attempt of one call.

The dialer commits ``dialing`` before it calls :meth:`CallPlacer.place`; the placer sends the INVITE,
reports progress through the :class:`AttemptHandle` (ringing, answered, human speech) and returns an
:class:`AttemptResult` when the attempt is over. Timers (ring timeout, max duration, max hold) and
cancel requests reach the placer as an end request on the handle: it sends CANCEL before the answer
and BYE after it, then returns with the requested end reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from outdial.lifecycle import EndReason


@dataclass(frozen=True, slots=True)
class TrunkSnapshot:
    id: str
    address: str
    transport: str
    username: str | None
    password: str | None
    media_encryption: str
    calls_per_second: float | None = None


@dataclass(frozen=True, slots=True)
class CallSnapshot:
    """Everything a placer needs about one attempt, read in the transaction that committed ``dialing``."""

    id: str
    org_id: str
    attempt_id: str
    attempt_number: int
    to_number: str
    from_number: str
    agent_id: str | None
    agent_config: dict[str, Any]
    variables: dict[str, Any]
    call_context: str | None
    sip_headers: dict[str, str]
    ring_timeout_seconds: int
    max_duration_seconds: int
    max_hold_seconds: int | None
    trunk: TrunkSnapshot | None
    media_encryption: str | None = None
    transport: str | None = None
    request_metadata: Any = None


@dataclass(slots=True)
class AttemptResult:
    """How one attempt ended, and what it produced."""

    end_reason: EndReason
    answered: bool = False
    sip_status_code: int | None = None
    error: str | None = None
    answered_by: str | None = None
    sip_call_id: str | None = None
    transcript: list[dict[str, Any]] | None = None
    recording_path: str | None = None
    outcome: dict[str, Any] | None = None
    human_speech_detected_at: datetime | None = None


class AttemptHandle:
    """What a placer is given for one attempt: progress callbacks in, end requests out.

    Callbacks are plain functions so a placer never waits on the database; the dialer records them
    in order behind the scenes.
    """

    def __init__(
        self,
        on_ringing: Callable[[], None] | None = None,
        on_answered: Callable[[str | None], None] | None = None,
        on_human_speech: Callable[[], None] | None = None,
        on_sip_call_id: Callable[[str], None] | None = None,
        on_turn: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self._on_turn = on_turn
        self._on_ringing = on_ringing
        self._on_answered = on_answered
        self._on_human_speech = on_human_speech
        self._on_sip_call_id = on_sip_call_id
        self._end = asyncio.Event()
        self.end_reason: EndReason | None = None
        self.ringing_seen = False
        self.answered = False
        self.human_speech = False

    # --- progress, called by the placer -------------------------------------------------------
    def ringing(self) -> None:
        if self.ringing_seen or self.answered:
            return
        self.ringing_seen = True
        if self._on_ringing:
            self._on_ringing()

    def answered_call(self, answered_by: str | None = None) -> None:
        if self.answered:
            return
        self.answered = True
        if self._on_answered:
            self._on_answered(answered_by)

    def human_speech_detected(self) -> None:
        if self.human_speech:
            return
        self.human_speech = True
        if self._on_human_speech:
            self._on_human_speech()

    def sip_call_id(self, value: str) -> None:
        if self._on_sip_call_id:
            self._on_sip_call_id(value)

    def turn(self, turn: dict[str, Any]) -> None:
        """A transcript turn was added (for ``transcript.updated`` events)."""
        if self._on_turn:
            self._on_turn(turn)

    # --- end requests, acted on by the placer ------------------------------------------------
    def request_end(self, reason: EndReason) -> None:
        """Ask the placer to end the attempt (first request wins)."""
        if self.end_reason is None:
            self.end_reason = reason
            self._end.set()

    @property
    def end_requested(self) -> bool:
        return self._end.is_set()

    async def wait_end_request(self) -> EndReason:
        await self._end.wait()
        assert self.end_reason is not None
        return self.end_reason


class CallPlacer(Protocol):
    async def place(self, call: CallSnapshot, handle: AttemptHandle) -> AttemptResult:
        """Place one attempt (INVITE on the wire promptly) and return when it has ended."""
        ...
