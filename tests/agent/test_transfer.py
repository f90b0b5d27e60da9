"""The session's side of a transfer step: the line's transfer callback decides; a failure is apologized
for (never a silent drop), and a callee who hangs up while the transfer is under way has been transferred."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from outdial.lifecycle import EndReason
from tests.agent.conftest import Call

CallFactory = Callable[..., Call]
AGENT = {
    "first_message": "One moment, I will put you through.",
    "brain": {"type": "flow", "steps": [{"id": "desk", "transfer": "+1555000{{desk}}"}]},
    "input_parameters": [{"name": "desk", "required": True}],
}


async def test_a_done_transfer_ends_the_call_transferred_and_hangs_up(call_factory: CallFactory) -> None:
    asked: list[str] = []

    async def transfer(to: str) -> str | None:
        asked.append(to)
        return None

    call = call_factory(AGENT, variables={"desk": "1111"}, transfer=transfer)
    await call.answer()
    result = await call.result()
    assert asked == ["+15550001111"]
    assert result.end_reason is EndReason.TRANSFERRED and call.hangups == [EndReason.TRANSFERRED]
    assert result.transfer_to == "+15550001111"
    # the agent finished its sentence before the transfer began
    assert [t.text for t in result.transcript] == ["One moment, I will put you through."]


async def test_a_failed_transfer_is_apologized_for(call_factory: CallFactory) -> None:
    async def transfer(_to: str) -> str | None:
        return "the transfer was refused: 603 Decline"

    call = call_factory(AGENT, variables={"desk": "1111"}, transfer=transfer)
    await call.answer()
    result = await call.result()
    assert result.end_reason is EndReason.AGENT_HANGUP and call.hangups == [EndReason.AGENT_HANGUP]
    assert result.outcome["transfer_failed"] == "the transfer was refused: 603 Decline"
    assert result.transcript[-1].text == "I'm sorry, I could not transfer your call. Goodbye!"


async def test_a_line_that_cannot_transfer_says_so_instead_of_claiming_it_did(
    call_factory: CallFactory,
) -> None:
    call = call_factory(AGENT, variables={"desk": "1111"})
    await call.answer()
    result = await call.result()
    assert result.end_reason is EndReason.AGENT_HANGUP
    assert result.outcome["transfer_failed"] == "this line cannot transfer calls"


async def test_the_callee_leaving_during_the_transfer_has_been_transferred(call_factory: CallFactory) -> None:
    started = asyncio.Event()

    async def transfer(_to: str) -> str | None:
        started.set()
        await asyncio.sleep(30)  # the REFER is out; the callee's phone moves to the target
        return None

    call = call_factory(AGENT, variables={"desk": "1111"}, transfer=transfer)
    await call.answer()
    await asyncio.wait_for(started.wait(), 10)
    result = await call.session.stop(EndReason.CALLEE_HANGUP)
    assert result.end_reason is EndReason.TRANSFERRED and call.hangups == []
