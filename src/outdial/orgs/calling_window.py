"""Calling windows: the local hours and weekdays in which a callee may be called.

Shared by the organization default, per-call overrides and the dialer.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


class CallingWindow(BaseModel):
    """Local ``start``–``end`` (``HH:MM``, 24 h) on ``days`` in ``timezone``; end < start spans midnight."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "start": "09:00",
                    "end": "18:00",
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "timezone": "America/New_York",
                }
            ]
        },
    )

    start: str = Field(description="Local opening time, HH:MM (24 h).", examples=["09:00"])
    end: str = Field(description="Local closing time, HH:MM (24 h), exclusive.", examples=["18:00"])
    days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS[:5]),
        min_length=1,
        max_length=7,
        description="Weekdays (of the start time) on which the window opens.",
    )
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Paris.")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError("times are HH:MM on a 24-hour clock, from 00:00 to 23:59")
        return v

    @field_validator("days")
    @classmethod
    def _unique_days(cls, v: list[Weekday]) -> list[Weekday]:
        if len(set(v)) != len(v):
            raise ValueError("days must not repeat")
        return sorted(v, key=WEEKDAYS.index)

    @field_validator("timezone")
    @classmethod
    def _iana(cls, v: str) -> str:
        if v not in _zones():
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as America/New_York")
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> CallingWindow:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def allows(self, at: datetime) -> bool:
        """Whether an aware datetime falls inside the window."""
        local = at.astimezone(ZoneInfo(self.timezone))
        start, end = _parse_hhmm(self.start), _parse_hhmm(self.end)
        now = local.time().replace(second=0, microsecond=0, tzinfo=None)
        today = WEEKDAYS[local.weekday()]
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        if start < end:
            return today in self.days and start <= now < end
        # Spans midnight: the part after midnight belongs to the window opened the day before.
        return (today in self.days and now >= start) or (yesterday in self.days and now < end)

    def next_open(self, at: datetime) -> datetime:
        """``at`` if the window is open then, else the next moment it opens (aware, in UTC's tzinfo of at)."""
        if self.allows(at):
            return at
        zone = ZoneInfo(self.timezone)
        local = at.astimezone(zone)
        start = _parse_hhmm(self.start)
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            if WEEKDAYS[day.weekday()] not in self.days:
                continue
            opening = datetime.combine(day, start, tzinfo=zone)
            if opening > local:
                return opening.astimezone(at.tzinfo)
        raise ValueError("a calling window always opens within a week")  # unreachable: days is non-empty
