"""Recording an attempt on the call as it happens: ringing, answered, and how it ended.

The end of an attempt either ends the call (its terminal status and end reason) or, when the call's
retry policy allows, schedules the next attempt (``scheduled`` + ``call.retry_scheduled``) at a time
its calling window allows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.billing.models import BillingAccount
from outdial.calls.ended import BILLING_ACCOUNTS, on_call_ended
from outdial.calls.transitions import change_status, record_event
from outdial.dialer.claim import org_settings
from outdial.dialer.models import CancelRequest
from outdial.dialer.placer import AttemptResult
from outdial.dialer.retries import RetryPolicy
from outdial.dialer.windows import InvalidWindow, resolve
from outdial.lifecycle import ACTIVE, END_REASONS, CallStatus, EndReason, EventType, status_for_end_reason
from outdial.store.models import Call, CallAttempt, Transcript

log = logging.getLogger(__name__)


LOCKED = "outdial.dialer.locked_calls"  # session.info: calls lock_calls locked and loaded
CANCELS = "outdial.dialer.cancel_requests"  # session.info: those of them with a cancel request
_HELD = "outdial.dialer.held_rows"  # session.info: the loaded rows (the identity map holds them weakly)


async def lock_calls(session: AsyncSession, call_ids: Sequence[str], attempt_ids: Sequence[str] = ()) -> None:
    """Lock and load calls (in id order, so batches never deadlock) with their attempts, cancel requests
    and billing accounts, in one query for any number of calls; the ``record_*`` jobs then find them
    in the session.
    """
    ids = sorted(set(call_ids))
    if not ids:
        return
    canceled = exists().where(CancelRequest.call_id == Call.id).label("canceled")
    query = (
        select(Call, canceled, BillingAccount)
        .outerjoin(BillingAccount, BillingAccount.org_id == Call.org_id)
        .where(Call.id.in_(ids))
        .order_by(Call.id)
        .with_for_update(of=Call)
        .execution_options(populate_existing=True)
    )
    if attempt_ids:
        query = query.add_columns(CallAttempt).outerjoin(
            CallAttempt, and_(CallAttempt.call_id == Call.id, CallAttempt.id.in_(list(attempt_ids)))
        )
    rows = (await session.execute(query)).all()
    held: list[Any] = session.info.setdefault(_HELD, [])
    cancels: set[str] = session.info.setdefault(CANCELS, set())
    accounts: dict[str, Any] = session.info.setdefault(BILLING_ACCOUNTS, {})
    for row in rows:
        held.extend(x for x in row if x is not None and not isinstance(x, bool))
        if row.canceled:
            cancels.add(row.Call.id)
        accounts[row.Call.org_id] = row.BillingAccount
    session.info.setdefault(LOCKED, set()).update(ids)


async def _owned_live_call(session: AsyncSession, call_id: str, worker_id: str) -> Call | None:
    if call_id not in session.info.get(LOCKED, ()):
        await lock_calls(session, [call_id])
    call = await session.get(Call, call_id)
    if call is None or CallStatus(call.status) not in ACTIVE or call.lease_owner != worker_id:
        return None
    return call


async def _cancel_requested(session: AsyncSession, call_id: str) -> bool:
    if call_id in session.info.get(LOCKED, ()):
        return call_id in session.info.get(CANCELS, ())
    return await session.get(CancelRequest, call_id) is not None


async def record_ringing(
    session: AsyncSession, call_id: str, attempt_id: str, worker_id: str, now: datetime
) -> None:
    call = await _owned_live_call(session, call_id, worker_id)
    if call is None or call.status != CallStatus.DIALING:
        return
    change_status(session, call, CallStatus.RINGING, at=now)
    attempt = await session.get(CallAttempt, attempt_id)
    if attempt is not None:
        attempt.status = CallStatus.RINGING.value


async def record_turn(session: AsyncSession, call_id: str, worker_id: str, turn: dict[str, Any]) -> None:
    """One transcript turn as a ``transcript.updated`` event (webhook endpoints opt in to it)."""
    call = await _owned_live_call(session, call_id, worker_id)
    if call is not None:
        record_event(session, call, EventType.TRANSCRIPT_UPDATED, data={"turn": turn})


async def record_answered(
    session: AsyncSession,
    call_id: str,
    attempt_id: str,
    worker_id: str,
    now: datetime,
    answered_by: str | None,
) -> None:
    call = await _owned_live_call(session, call_id, worker_id)
    if call is None or call.status == CallStatus.IN_PROGRESS:
        return
    change_status(session, call, CallStatus.IN_PROGRESS, at=now, answered_at=now, answered_by=answered_by)
    attempt = await session.get(CallAttempt, attempt_id)
    if attempt is not None:
        attempt.status = CallStatus.IN_PROGRESS.value
        attempt.answered_at = now


async def record_sip_call_id(session: AsyncSession, attempt_id: str, sip_call_id: str) -> None:
    attempt = await session.get(CallAttempt, attempt_id)
    if attempt is not None:
        attempt.sip_call_id = sip_call_id


def _terminal(result: AttemptResult, answered: bool) -> tuple[CallStatus, EndReason, str | None]:
    """The terminal status for a result, repairing a reason that cannot go with it (a placer's bug)."""
    status = status_for_end_reason(result.end_reason, answered)
    if result.end_reason in END_REASONS[status]:
        return status, result.end_reason, result.error
    note = f"attempt ended with {result.end_reason.value} while {'answered' if answered else 'unanswered'}"
    error = f"{result.error}; {note}" if result.error else note
    return (
        (CallStatus.COMPLETED if answered else CallStatus.FAILED),
        (EndReason.AGENT_HANGUP if answered else EndReason.INTERNAL_ERROR),
        error,
    )


async def end_attempt(
    session: AsyncSession, call: Call, attempt: CallAttempt | None, result: AttemptResult, now: datetime
) -> CallStatus:
    """Apply the end of the current attempt to a live call (locked by the caller); return its new status."""
    answered = result.answered or call.status == CallStatus.IN_PROGRESS
    if attempt is not None:
        attempt.end_reason = result.end_reason.value
        attempt.sip_status_code = result.sip_status_code
        attempt.error = result.error
        attempt.ended_at = now
        attempt.sip_call_id = result.sip_call_id or attempt.sip_call_id
        attempt.status = status_for_end_reason(result.end_reason, answered).value
    if result.answered and call.status != CallStatus.IN_PROGRESS:
        change_status(session, call, CallStatus.IN_PROGRESS, at=now, answered_at=now)
        if attempt is not None and attempt.answered_at is None:
            attempt.answered_at = now
    if result.transcript is not None:
        transcript = Transcript(org_id=call.org_id, call_id=call.id, turns=result.transcript, created_at=now)
        session.add(transcript)
        await session.flush()
        call.transcript_id = transcript.id
    if result.recording_path:
        call.recording_path = result.recording_path
    if result.outcome is not None:
        call.outcome = result.outcome
    if result.answered_by:
        call.answered_by = result.answered_by

    canceled = await _cancel_requested(session, call.id)
    next_at = None if canceled else await _retry_at(session, call, result.end_reason, now)
    common: dict[str, Any] = {
        "lease_owner": None,
        "lease_expires_at": None,
        "sip_status_code": result.sip_status_code,
        "error": result.error,
    }
    if next_at is not None:
        change_status(
            session,
            call,
            CallStatus.SCHEDULED,
            at=now,
            event_type=EventType.CALL_RETRY_SCHEDULED,
            data={
                "attempt": call.attempt_count,
                "end_reason": result.end_reason.value,
                "next_attempt_at": next_at.isoformat(),
            },
            next_attempt_at=next_at,
            **common,
        )
        # The call record describes the attempt to come; the attempt rows keep the past ones.
        call.answered_at = None
        call.ended_at = None
        call.duration_seconds = None
        return CallStatus.SCHEDULED
    # A cancel request only stops retries: an attempt that ended on its own before the request took
    # effect keeps its real outcome.
    status, reason, error = _terminal(result, answered)
    common["error"] = error
    change_status(
        session, call, status, end_reason=reason, at=now, data={"attempt": call.attempt_count}, **common
    )
    await on_call_ended(session, call)
    if canceled:
        await session.execute(delete(CancelRequest).where(CancelRequest.call_id == call.id))
    return status


async def _retry_at(session: AsyncSession, call: Call, reason: EndReason, now: datetime) -> datetime | None:
    try:
        policy = RetryPolicy.parse(call.retry)
    except (TypeError, ValueError) as exc:
        log.warning("call %s has an unreadable retry policy (%s); not retrying", call.id, exc)
        return None
    if not policy.allows(reason, call.attempt_count):
        return None
    at = policy.next_attempt_at(now, call.attempt_count)
    orgs = await org_settings(session, [call.org_id])
    try:
        window = resolve(call.calling_window, orgs.get(call.org_id, {}).get("calling_window"), call.to_number)
    except InvalidWindow:
        return None
    return at if window is None else window.next_open(at)


async def record_end(
    session: AsyncSession, call_id: str, attempt_id: str, worker_id: str, result: AttemptResult, now: datetime
) -> CallStatus | None:
    """Record the end of this worker's attempt; None if the call is no longer this worker's."""
    call = await _owned_live_call(session, call_id, worker_id)
    attempt = await session.get(CallAttempt, attempt_id)
    if call is None:
        # Reaped while we were cut off: keep what this attempt learnt on its own row only.
        if attempt is not None and attempt.ended_at is None:
            attempt.end_reason = result.end_reason.value
            attempt.sip_status_code = result.sip_status_code
            attempt.error = result.error
            attempt.ended_at = now
        return None
    return await end_attempt(session, call, attempt, result, now)
