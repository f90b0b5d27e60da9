"""Calls-per-second pacing as a GCRA (generic cell rate algorithm), a token bucket of depth one.

The state is one instant per trunk, the theoretical arrival time (TAT) of the next call; it lives in
the database (``dialer_trunk_pace``) so every worker shares it. Each admitted call gets a slot ``1/cps``
after the previous one. A call may be admitted a little before its slot (``lookahead``) so that the
commit is done by then; the worker sends the INVITE at the slot itself, which keeps the spacing of
INVITEs on the wire exact even when commits take uneven time; within one worker, an INVITE also
never follows the previous one on its trunk by less than ``1/cps`` (a late commit cannot bunch two).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

LOOKAHEAD = timedelta(milliseconds=250)


@dataclass(frozen=True, slots=True)
class PaceDecision:
    wait_seconds: float  # > 0: ask again after this long
    slot: datetime | None  # when admitted: the instant the INVITE may leave
    new_tat: datetime | None  # when admitted: the TAT to store


def gcra(
    tat: datetime | None, now: datetime, calls_per_second: float, lookahead: timedelta = LOOKAHEAD
) -> PaceDecision:
    """May a call be admitted at ``now`` on a trunk whose next slot is ``tat``? If so, its slot."""
    interval = timedelta(seconds=1.0 / calls_per_second)
    slot = now if tat is None or tat <= now else tat
    if slot - now > lookahead:
        return PaceDecision(wait_seconds=(slot - now - lookahead).total_seconds(), slot=None, new_tat=None)
    return PaceDecision(wait_seconds=0.0, slot=slot, new_tat=slot + interval)
