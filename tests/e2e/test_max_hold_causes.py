"""Fast checks behind the e2e test ``test_max_hold_leaves_a_call_alone_once_a_person_speaks``.

In suite order that call used to end at ~5.8 s with ``agent_hangup`` (max_hold_seconds 5), which
read as "the greeting was not heard, max_hold fired and was mislabelled". Traced, it was neither:
the detector heard the greeting 0.7 s after the answer (onset 60 ms) and max_hold was never
requested; the grammar recognizer took the rest of the greeting for "two don't call me again", and
the flow's built-in opt-out ended the call — an agent hangup, labelled as one. These tests pin both
halves: the test's agent must wait whatever it is told, and the placer's label must follow who
ended the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from outdial.agent.brains import make_brain
from outdial.agent.protocols import Action, CallStarted, EndCall, OptOut, Say, UserSaid
from outdial.agent.result import SessionResult
from outdial.agent.settings import AgentConfig
from outdial.dialer.placer import AttemptHandle, AttemptResult, CallSnapshot
from outdial.dialer.sip_placer import _Attempt
from outdial.lifecycle import EndReason
from outdial.sip import Answered, Ended
from tests.e2e.agents import WAITS_WHATEVER_IS_SAID

# What pocketsphinx made of the e2e callee's "Hello? Yes, this is John speaking." in suite runs.
HEARD_FOR_THE_GREETING = ["oh", "two two", "two three", "do not call me", "two don't call me again"]


async def _actions(brain: Any, event: Any) -> list[Action]:
    return [a async for a in brain.respond([], event)]


def _brain(config: dict[str, Any]) -> Any:
    return make_brain(AgentConfig.model_validate({"name": "e2e agent", **config}))


async def test_the_waiting_agent_asks_again_whatever_the_recognizer_heard() -> None:
    brain = _brain(WAITS_WHATEVER_IS_SAID)
    await _actions(brain, CallStarted())
    for text in HEARD_FOR_THE_GREETING * 2:
        actions = await _actions(brain, UserSaid(text, 0.9))
        assert actions == [Say("Please press one.")], text


async def test_an_unrouted_opt_out_heard_in_a_greeting_is_confirmed_not_acted_on() -> None:
    # The cause of the old failure: the same step without "opt_out" routed hung up on the greeting
    # (and listed the number). An opt-out is now confirmed first.
    steps = WAITS_WHATEVER_IS_SAID["brain"]["steps"]
    unrouted = {
        **WAITS_WHATEVER_IS_SAID,
        "brain": {
            "type": "flow",
            "steps": [{**steps[0], "intents": ["digits"], "on": {"digits": "wait", "default": "wait"}}],
        },
    }
    brain = _brain(unrouted)
    await _actions(brain, CallStarted())
    actions = await _actions(brain, UserSaid("two don't call me again", 0.9))
    assert not any(isinstance(a, OptOut | EndCall) for a in actions)
    assert actions[-1] == Say("Just to confirm: you would like us to stop calling you. Is that right?")


# -- the placer's label: whoever ended the call ------------------------------------------------------
class _SipCall:
    """An answered SIP call: events until it ends, BYE from our side ends it as AGENT_HANGUP."""

    def __init__(self) -> None:
        self.answered = False
        self.ended: Ended | None = None
        self.media = object()
        self.sip_call_id = "call-1@test"
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._events.put_nowait(Answered())

    async def events(self) -> AsyncIterator[Any]:
        while True:
            event = await self._events.get()
            if isinstance(event, Answered):
                self.answered = True
            yield event
            if isinstance(event, Ended):
                return

    def _end(self, reason: EndReason, why: str) -> None:
        if self.ended is None:
            self.ended = Ended(None, reason, why)
            self._events.put_nowait(self.ended)

    async def hangup(self) -> None:
        self._end(EndReason.AGENT_HANGUP, "we hung up")

    async def cancel(self) -> None:
        raise AssertionError("an answered call is never canceled")


class _Session:
    """An agent session: ends on its own (``end_itself``) or when stopped, whichever comes first."""

    def __init__(self, sip_call: _SipCall) -> None:
        self.sip_call = sip_call
        self.started = asyncio.Event()
        self.stopped_with: EndReason | None = None
        self.human_speech_detected_ms: float | None = None
        self._result: SessionResult | None = None
        self._ending: asyncio.Future[None] | None = None

    async def prepare(self) -> None:
        return None

    def start(self) -> None:
        self.started.set()

    @property
    def result(self) -> SessionResult | None:
        return self._result

    def _finish(self, reason: EndReason) -> SessionResult:
        if self._result is None:
            self._result = SessionResult(
                reason, [], {}, None, [], None, datetime.now(UTC), self.human_speech_detected_ms, 0.0
            )
        return self._result

    async def end_itself(self, reason: EndReason, *, slow: asyncio.Event | None = None) -> None:
        """Like the session's own ``_end``: ending at once, the result only after its books close."""
        self._ending = asyncio.get_running_loop().create_future()
        if slow is not None:
            await slow.wait()
        self._finish(reason)
        self._ending.set_result(None)
        await self.sip_call.hangup()

    async def stop(self, reason: EndReason | str = EndReason.CALLEE_HANGUP) -> SessionResult:
        self.stopped_with = EndReason(reason)
        if self._ending is not None:  # already ending: its own reason stands, as in AgentSession
            await self._ending
        return self._finish(EndReason(reason))


async def _place(act: Any) -> tuple[AttemptResult, AttemptHandle, _Session]:
    sip_call = _SipCall()
    session = _Session(sip_call)
    handle = AttemptHandle()
    snapshot = cast(CallSnapshot, None)  # only handed to the session factory, which ignores it
    attempt = _Attempt(snapshot, handle, sip_call, lambda *_: session)  # type: ignore[arg-type]  # a fake SIP call
    running = asyncio.create_task(attempt.run())
    await asyncio.wait_for(session.started.wait(), 2)
    await act(handle, session)
    return await asyncio.wait_for(running, 2), handle, session


async def test_max_hold_requested_on_a_live_call_is_labelled_max_hold() -> None:
    async def act(handle: AttemptHandle, session: _Session) -> None:
        handle.request_end(EndReason.MAX_HOLD)

    result, _, session = await _place(act)
    assert (result.end_reason, result.answered) == (EndReason.MAX_HOLD, True)
    assert session.stopped_with == EndReason.MAX_HOLD and session.result is not None
    assert session.result.end_reason == EndReason.MAX_HOLD


async def test_max_hold_requested_while_the_agent_is_ending_is_still_max_hold() -> None:
    async def act(handle: AttemptHandle, session: _Session) -> None:
        books = asyncio.Event()  # the session is closing its books (recording, recognizer)
        ending = asyncio.create_task(session.end_itself(EndReason.AGENT_HANGUP, slow=books))
        await asyncio.sleep(0)
        handle.request_end(EndReason.MAX_HOLD)
        await asyncio.sleep(0.01)
        books.set()
        await ending

    result, _, session = await _place(act)
    assert session.result is not None and session.result.end_reason == EndReason.AGENT_HANGUP
    assert result.end_reason == EndReason.MAX_HOLD  # the dialer's limit fired: never agent_hangup


@pytest.mark.parametrize("reason", [EndReason.AGENT_HANGUP, EndReason.SILENCE_TIMEOUT])
async def test_an_agent_that_ends_the_call_itself_is_labelled_by_its_session(reason: EndReason) -> None:
    async def act(handle: AttemptHandle, session: _Session) -> None:
        session.human_speech_detected_ms = 60.0
        await session.end_itself(reason)

    result, handle, session = await _place(act)
    assert handle.end_reason is None and session.stopped_with is None
    assert result.end_reason == reason and result.human_speech_detected_at is not None
