"""Calls-per-second pacing as a GCRA (generic cell rate algorithm), a token bucket of depth one.

The state is one instant per trunk, the theoretical arrival time (TAT) of the next call; it lives in
the database (``dialer_trunk_pace``) so every worker shares it. Calls are spaced exactly ``1/cps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class PaceDecision:
    wait_seconds: float  # 0: go now
    new_tat: datetime | None  # the TAT to store when going now


def gcra(tat: datetime | None, now: datetime, calls_per_second: float) -> PaceDecision:
    """May a call go at ``now`` on a trunk whose next slot is ``tat``? If so, the slot after it."""
    interval = timedelta(seconds=1.0 / calls_per_second)
    if tat is not None and tat > now:
        return PaceDecision(wait_seconds=(tat - now).total_seconds(), new_tat=None)
    return PaceDecision(wait_seconds=0.0, new_tat=now + interval)
