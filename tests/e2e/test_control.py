"""End to end, the dialer's controls: cancel at every stage, retries, calling windows, max_duration and
max_hold — through the REST API, against the simulated callee over real SIP/RTP on loopback."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from outdial.sip import IncomingCall, UserAgent
from tests.e2e.agents import KEEPS_WAITING, WAITS_WHATEVER_IS_SAID
from tests.e2e.harness import ShiftedClock, persona, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

SAY_AND_HANG_UP = {
    "first_message": "Hello, this is a short test call.",
    "brain": {"type": "flow", "steps": [{"say": "Goodbye!", "end": True}]},
}


async def test_cancel_before_dialing_queued_and_scheduled_calls_are_never_dialed(tmp_path: Path) -> None:
    async with running_stack(tmp_path, persona(), start_dialer=False) as stack:
        await stack.provision()
        agent = await stack.agent(**SAY_AND_HANG_UP)
        queued = await stack.place(agent)
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        scheduled = await stack.place(agent, scheduled_at=later)
        assert (queued["status"], scheduled["status"]) == ("queued", "scheduled")
        canceled = [await stack.cancel(queued["id"]), await stack.cancel(scheduled["id"])]
        await stack.start_dialer()
        await asyncio.sleep(1.0)  # the dialer had its chance
        again = await stack.http.post(f"/v1/calls/{queued['id']}/cancel")
        final = [await stack.call(queued["id"]), await stack.call(scheduled["id"])]

    for call in (*canceled, *final):
        assert (call["status"], call["end_reason"]) == ("canceled", "canceled")
        assert call["dialed_at"] is None and call["attempts"] == []
    assert again.status_code == 409 and again.json()["error"]["code"] == "call_not_cancelable"
    assert stack.callee.calls == []


async def test_cancel_while_dialing_before_any_answer_from_the_trunk_ends_the_call(tmp_path: Path) -> None:
    async with running_stack(tmp_path, persona()) as stack:
        # A trunk that answered OPTIONS when its number was verified, then swallows every packet:
        # the INVITE gets no provisional response, so the call stays dialing.
        ua = await UserAgent.start("127.0.0.1", 0)
        host, port = ua.address
        await stack.provision(address=f"{host}:{port}")
        await ua.close()
        await asyncio.sleep(0.2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
            hole.bind((host, port))
            created = await stack.place(await stack.agent(**SAY_AND_HANG_UP))
            await stack.wait(created["id"], "dialing", within=10)
            await asyncio.sleep(0.5)
            assert (await stack.call(created["id"]))["status"] == "dialing"
            await stack.cancel(created["id"])
            # No CANCEL may go out before a provisional response (RFC 3261 §9.1); the dialer still
            # ends the attempt within its end grace (3 s here), well before the INVITE's timer B (32 s).
            call = await stack.wait(created["id"], within=10)

    assert (call["status"], call["end_reason"], call["answered_at"]) == ("canceled", "canceled", None)
    assert [a["end_reason"] for a in call["attempts"]] == ["canceled"]


async def test_cancel_while_ringing_sends_cancel_to_the_callee(tmp_path: Path) -> None:
    async with running_stack(tmp_path, persona(behaviour="no_answer")) as stack:
        await stack.provision()
        created = await stack.place(await stack.agent(**SAY_AND_HANG_UP))
        await stack.wait(created["id"], "ringing", within=10)
        await stack.cancel(created["id"])
        call = await stack.wait(created["id"], within=10)
        far = await stack.callee_call()
        await asyncio.wait_for(far.done(), 5)

    assert (call["status"], call["end_reason"], call["answered_at"]) == ("canceled", "canceled", None)
    assert [a["end_reason"] for a in call["attempts"]] == ["canceled"]
    assert far.outcome == "canceled"


async def test_cancel_in_progress_hangs_up_the_answered_call(tmp_path: Path) -> None:
    async with running_stack(tmp_path, persona(greeting="Hello?")) as stack:
        await stack.provision()
        created = await stack.place(await stack.agent(**KEEPS_WAITING))
        await stack.wait(created["id"], "in_progress", within=10)
        await asyncio.sleep(1.0)
        await stack.cancel(created["id"])
        call = await stack.wait(created["id"], within=15)
        far = await stack.callee_call()
        await asyncio.wait_for(far.done(), 5)

    assert (call["status"], call["end_reason"]) == ("canceled", "canceled")
    assert call["answered_at"] is not None and call["sip_status_code"] == 200
    assert (far.outcome, far.ended_by) == ("answered", "caller")  # our BYE ended it


async def test_busy_first_attempt_is_retried_and_the_second_is_answered(tmp_path: Path) -> None:
    async with running_stack(tmp_path, persona(behaviour="busy")) as stack:
        await stack.provision()
        created = await stack.place(
            await stack.agent(**SAY_AND_HANG_UP),
            retry={"max_attempts": 2, "on": ["busy"], "delay_seconds": 10},
        )
        await stack.callee_call(0)
        stack.callee.persona = persona()  # the callee picks up next time
        waiting = await stack.wait(created["id"], "scheduled", within=10)
        await asyncio.sleep(0.5)
        assert len(stack.callee.calls) == 1  # the retry waits for its delay
        stack.clock.advance(10)  # the delay passes on the dialer's clock
        stack.worker.wake()
        call = await stack.wait(created["id"], within=30)
        events = await stack.events(created["id"])

    assert waiting["next_attempt_at"] is not None
    assert (call["status"], call["end_reason"], call["attempt_count"]) == ("completed", "agent_hangup", 2)
    assert [(a["number"], a["status"]) for a in call["attempts"]] == [(1, "busy"), (2, "completed")]
    assert [c.outcome for c in stack.callee.calls] == ["busy", "answered"]
    assert "call.retry_scheduled" in [e.type for e in events]


def _next_monday_0859_new_york() -> datetime:
    ny = ZoneInfo("America/New_York")
    day = datetime.now(ny).date() + timedelta(days=1)
    while day.weekday() != 0:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 8, 59, tzinfo=ny)


async def test_call_outside_its_window_waits_scheduled_until_the_clock_reaches_the_opening(
    tmp_path: Path,
) -> None:
    start = _next_monday_0859_new_york()
    window = {"start": "09:00", "end": "17:00", "days": ["mon"], "timezone": "America/New_York"}
    async with running_stack(tmp_path, persona(), clock=ShiftedClock(start)) as stack:
        await stack.provision()
        created = await stack.place(await stack.agent(**SAY_AND_HANG_UP), calling_window=window)
        held = await stack.wait(created["id"], "scheduled", within=10)
        await asyncio.sleep(1.0)
        still = await stack.call(created["id"])
        assert stack.callee.calls == []  # never dialed early
        stack.clock.advance(60)  # 09:00 in New York
        stack.worker.wake()
        call = await stack.wait(created["id"], within=30)

    opening = start.replace(hour=9, minute=0)
    assert datetime.fromisoformat(held["next_attempt_at"]) == opening
    assert (still["status"], still["dialed_at"]) == ("scheduled", None)
    assert (call["status"], call["end_reason"]) == ("completed", "agent_hangup")
    assert datetime.fromisoformat(call["dialed_at"]) >= opening
    assert len(stack.callee.calls) == 1


async def test_max_duration_hangs_up_a_call_that_runs_too_long(tmp_path: Path) -> None:
    async with running_stack(tmp_path, persona(greeting="Hello, who is this?")) as stack:
        await stack.provision()
        created = await stack.place(await stack.agent(**KEEPS_WAITING), max_duration_seconds=10)
        call = await stack.wait(created["id"], within=30)
        far = await stack.callee_call()

    assert (call["status"], call["end_reason"]) == ("completed", "max_duration")
    assert 9 <= call["duration_seconds"] <= 13
    assert far.ended_by == "caller"


async def test_max_hold_hangs_up_when_no_human_ever_speaks(tmp_path: Path) -> None:
    async with running_stack(tmp_path, persona()) as stack:  # answers, then never says a word
        await stack.provision()
        created = await stack.place(await stack.agent(**KEEPS_WAITING, max_hold_seconds=2))
        call = await stack.wait(created["id"], within=20)
        far = await stack.callee_call()

    assert (call["status"], call["end_reason"]) == ("completed", "max_hold")
    assert call["answered_at"] is not None and call["duration_seconds"] <= 5
    assert far.said == [] and far.ended_by == "caller"


async def test_max_hold_leaves_a_call_alone_once_a_person_speaks(tmp_path: Path) -> None:
    greeting = "Hello? Yes, this is John speaking."
    async with running_stack(tmp_path, persona(greeting=greeting)) as stack:
        await stack.provision()
        # max_hold leaves room for a slow start on a loaded machine; without detection it still ends
        # the call (max_hold) well before max_duration. The agent must not end the call itself on
        # whatever the recognizer makes of the greeting (see WAITS_WHATEVER_IS_SAID).
        agent = await stack.agent(**WAITS_WHATEVER_IS_SAID, max_hold_seconds=5)
        created = await stack.place(agent, max_duration_seconds=10)  # the API's minimum
        call = await stack.wait(created["id"], within=30)
        far = await stack.callee_call()

    assert [s.text for s in far.said] == [greeting] and far.ended_by == "caller"
    assert (call["status"], call["end_reason"]) == ("completed", "max_duration")
    assert call["duration_seconds"] >= 9


def _hold_music(rate: int, seconds: float) -> bytes:
    """Four plain notes with a fifth above each: tonal, steady, nothing like a voice."""
    t = np.arange(int(rate * seconds)) / rate
    out = np.zeros_like(t)
    for i, f in enumerate((261.6, 329.6, 392.0, 523.3)):
        note = (t >= i * seconds / 4) & (t < (i + 1) * seconds / 4)
        out[note] = 0.3 * np.sin(2 * np.pi * f * t[note]) + 0.15 * np.sin(2 * np.pi * 1.5 * f * t[note])
    return (out * 16000).astype("<i2").tobytes()


async def test_max_hold_hangs_up_on_hold_music(tmp_path: Path) -> None:
    music = await UserAgent.start("127.0.0.1", 0)

    async def on_invite(incoming: IncomingCall) -> None:
        await incoming.ring()
        media = await incoming.answer()
        clip = _hold_music(media.sample_rate, 2.0)
        while incoming.ended is None:
            media.write(clip)
            await asyncio.sleep(2.0)

    music.on_invite = on_invite
    try:
        async with running_stack(tmp_path, persona()) as stack:
            host, port = music.address
            await stack.provision(address=f"{host}:{port}")
            created = await stack.place(await stack.agent(**KEEPS_WAITING, max_hold_seconds=2))
            await stack.wait(created["id"], "in_progress", within=10)
            await asyncio.sleep(5)  # max_hold is 2 s
            call = await stack.call(created["id"])
            if call["status"] == "in_progress":
                await stack.cancel(created["id"])  # end it now rather than in the teardown's drain
                await stack.wait(created["id"])
    finally:
        await music.close()

    assert (call["status"], call["end_reason"]) == ("completed", "max_hold")
