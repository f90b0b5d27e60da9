"""The call lifecycle: statuses, end reasons, events and the one table of allowed transitions.

Everything that decides whether a call may move from one status to another lives in this file
(after h11's ``_state.py``). Callers ask :func:`transition`; an illegal move is a bug and raises.
"""

from __future__ import annotations

from enum import StrEnum


class CallStatus(StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    DIALING = "dialing"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    CANCELED = "canceled"


class EndReason(StrEnum):
    AGENT_HANGUP = "agent_hangup"
    CALLEE_HANGUP = "callee_hangup"
    MAX_DURATION = "max_duration"
    SILENCE_TIMEOUT = "silence_timeout"
    MAX_HOLD = "max_hold"
    VOICEMAIL = "voicemail"
    TRANSFERRED = "transferred"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    REJECTED = "rejected"
    TRUNK_ERROR = "trunk_error"
    NETWORK_ERROR = "network_error"
    CANCELED = "canceled"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    WORKER_LOST = "worker_lost"
    INTERNAL_ERROR = "internal_error"


class AnsweredBy(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    UNKNOWN = "unknown"


class EventType(StrEnum):
    CALL_QUEUED = "call.queued"
    CALL_RINGING = "call.ringing"
    CALL_ANSWERED = "call.answered"
    CALL_ENDED = "call.ended"
    CALL_RETRY_SCHEDULED = "call.retry_scheduled"
    CALL_ANALYZED = "call.analyzed"
    TRANSCRIPT_UPDATED = "transcript.updated"


TERMINAL: frozenset[CallStatus] = frozenset(
    {CallStatus.COMPLETED, CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.FAILED, CallStatus.CANCELED}
)
ACTIVE: frozenset[CallStatus] = frozenset({CallStatus.DIALING, CallStatus.RINGING, CallStatus.IN_PROGRESS})
PENDING: frozenset[CallStatus] = frozenset({CallStatus.QUEUED, CallStatus.SCHEDULED})

S = CallStatus

# The one table. A key is the current status, its value the statuses it may move to.
# queued/scheduled swap when a call waits for its window or a retry; a live attempt that ends in a
# retryable way goes back to scheduled (the attempt is recorded, the call is not terminal).
TRANSITIONS: dict[CallStatus, frozenset[CallStatus]] = {
    S.QUEUED: frozenset({S.SCHEDULED, S.DIALING, S.FAILED, S.CANCELED}),
    S.SCHEDULED: frozenset({S.QUEUED, S.DIALING, S.FAILED, S.CANCELED}),
    S.DIALING: frozenset({S.RINGING, S.IN_PROGRESS, S.SCHEDULED, S.NO_ANSWER, S.BUSY, S.FAILED, S.CANCELED}),
    S.RINGING: frozenset({S.IN_PROGRESS, S.SCHEDULED, S.NO_ANSWER, S.BUSY, S.FAILED, S.CANCELED}),
    S.IN_PROGRESS: frozenset({S.SCHEDULED, S.COMPLETED, S.FAILED, S.CANCELED}),
    S.COMPLETED: frozenset(),
    S.NO_ANSWER: frozenset(),
    S.BUSY: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELED: frozenset(),
}

# Which end reasons may accompany each terminal status.
END_REASONS: dict[CallStatus, frozenset[EndReason]] = {
    S.COMPLETED: frozenset(
        {
            EndReason.AGENT_HANGUP,
            EndReason.CALLEE_HANGUP,
            EndReason.MAX_DURATION,
            EndReason.SILENCE_TIMEOUT,
            EndReason.MAX_HOLD,
            EndReason.VOICEMAIL,
            EndReason.TRANSFERRED,
        }
    ),
    S.NO_ANSWER: frozenset({EndReason.NO_ANSWER}),
    S.BUSY: frozenset({EndReason.BUSY}),
    S.FAILED: frozenset(
        {
            EndReason.REJECTED,
            EndReason.TRUNK_ERROR,
            EndReason.NETWORK_ERROR,
            EndReason.INSUFFICIENT_BALANCE,
            EndReason.WORKER_LOST,
            EndReason.INTERNAL_ERROR,
            EndReason.VOICEMAIL,
            EndReason.MAX_HOLD,
        }
    ),
    S.CANCELED: frozenset({EndReason.CANCELED}),
}

# The webhook event a status change emits (None: no event of its own).
EVENT_FOR_STATUS: dict[CallStatus, EventType | None] = {
    S.QUEUED: EventType.CALL_QUEUED,
    S.SCHEDULED: None,  # call.queued at creation, call.retry_scheduled between attempts
    S.DIALING: None,
    S.RINGING: EventType.CALL_RINGING,
    S.IN_PROGRESS: EventType.CALL_ANSWERED,
    **{t: EventType.CALL_ENDED for t in TERMINAL},
}

# End reasons after which a retry policy's ``on`` categories may schedule another attempt.
RETRY_CATEGORY: dict[EndReason, str] = {
    EndReason.NO_ANSWER: "no_answer",
    EndReason.BUSY: "busy",
    EndReason.REJECTED: "failed",
    EndReason.TRUNK_ERROR: "failed",
    EndReason.NETWORK_ERROR: "failed",
    EndReason.WORKER_LOST: "failed",
    EndReason.INTERNAL_ERROR: "failed",
    EndReason.VOICEMAIL: "voicemail",
}


class IllegalTransition(RuntimeError):
    """A status change the table does not allow: a bug in the caller, never a user error."""


def is_terminal(status: CallStatus | str) -> bool:
    return CallStatus(status) in TERMINAL


def transition(
    current: CallStatus | str, new: CallStatus | str, end_reason: EndReason | str | None = None
) -> CallStatus:
    """Check one status change against the table and return the new status, or raise."""
    cur, nxt = CallStatus(current), CallStatus(new)
    if nxt not in TRANSITIONS[cur]:
        raise IllegalTransition(f"call may not move from {cur} to {nxt}")
    if nxt in TERMINAL:
        if end_reason is None:
            raise IllegalTransition(f"terminal status {nxt} needs an end reason")
        if EndReason(end_reason) not in END_REASONS[nxt]:
            raise IllegalTransition(f"end reason {end_reason} does not go with status {nxt}")
    elif end_reason is not None:
        raise IllegalTransition(f"non-terminal status {nxt} takes no end reason")
    return nxt


def status_for_end_reason(reason: EndReason | str, answered: bool) -> CallStatus:
    """The terminal status a call ends in, from its end reason and whether it was answered."""
    r = EndReason(reason)
    if r is EndReason.CANCELED:
        return S.CANCELED
    if r is EndReason.NO_ANSWER:
        return S.NO_ANSWER
    if r is EndReason.BUSY:
        return S.BUSY
    if answered and r in END_REASONS[S.COMPLETED]:
        return S.COMPLETED
    return S.FAILED
