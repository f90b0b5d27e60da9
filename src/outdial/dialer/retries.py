"""Retry policies: whether an attempt that ended this way is tried again, and when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from outdial.lifecycle import RETRY_CATEGORY, EndReason

CATEGORIES = frozenset({"no_answer", "busy", "failed", "voicemail"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 1
    on: frozenset[str] = frozenset()
    delay_seconds: float = 60.0
    backoff: float = 1.0

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> RetryPolicy:
        if not raw:
            return cls()
        max_attempts = int(raw.get("max_attempts", 1))
        if not 1 <= max_attempts <= 10:
            raise ValueError("retry.max_attempts must be between 1 and 10")
        on = frozenset(str(c) for c in raw.get("on") or ("no_answer", "busy", "failed"))
        unknown = on - CATEGORIES
        if unknown:
            raise ValueError(f"retry.on has unknown categories {sorted(unknown)}")
        delay = float(raw.get("delay_seconds", 60))
        backoff = float(raw.get("backoff", 1.0))
        if delay < 0 or backoff < 1:
            raise ValueError("retry.delay_seconds must be >= 0 and retry.backoff >= 1")
        return cls(max_attempts=max_attempts, on=on, delay_seconds=delay, backoff=backoff)

    def allows(self, end_reason: EndReason, attempts_made: int) -> bool:
        """Whether another attempt follows one that ended with ``end_reason`` after ``attempts_made``."""
        category = RETRY_CATEGORY.get(end_reason)
        return category is not None and category in self.on and attempts_made < self.max_attempts

    def delay_after(self, attempts_made: int) -> timedelta:
        """Wait before the next attempt: delay, times backoff for each attempt after the first."""
        return timedelta(seconds=self.delay_seconds * self.backoff ** max(0, attempts_made - 1))

    def next_attempt_at(self, ended_at: datetime, attempts_made: int) -> datetime:
        return ended_at + self.delay_after(attempts_made)
