"""What a call reports to its owner, and how SIP final responses map to DESIGN end reasons."""

from __future__ import annotations

from dataclasses import dataclass

from outdial.lifecycle import EndReason


@dataclass(frozen=True)
class Ringing:
    status: int  # 180, 181, 182 or 183


@dataclass(frozen=True)
class EarlyMedia:
    """A 183 (or 18x) with SDP: the callee's media flows before the answer."""

    status: int


@dataclass(frozen=True)
class Answered:
    pass


@dataclass(frozen=True)
class Dtmf:
    """A digit the peer sent by SIP INFO (RFC 4733 digits arrive through the media stream)."""

    digit: str


@dataclass(frozen=True)
class Ended:
    sip_status: int | None  # the final response that ended the call, when one did
    end_reason: EndReason
    reason: str  # a sentence for logs and for the user


CallEvent = Ringing | EarlyMedia | Answered | Dtmf | Ended

_BUSY = frozenset({486, 600})
_NO_ANSWER = frozenset({480, 408, 487})


def end_reason_for_status(status: int) -> EndReason:
    """486/600 → busy; 480/408 (and 487 after our ring-timeout CANCEL) → no_answer; 5xx → trunk_error;
    every other 3xx-6xx → rejected."""
    if status in _BUSY:
        return EndReason.BUSY
    if status in _NO_ANSWER:
        return EndReason.NO_ANSWER
    if 500 <= status < 600:
        return EndReason.TRUNK_ERROR
    return EndReason.REJECTED
