"""Calling windows: local hours and days in which a callee may be called.

A window is ``{"start": "09:00", "end": "20:00", "days": ["mon", ...], "timezone": "America/New_York"}``.
Without a timezone it is read in the callee's zones, from the number (phonenumbers' timezone data);
when a number spans several zones the window must hold in all of them at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far ahead to look for an opening; a window that never opens within two weeks never will.
HORIZON_DAYS = 15


class InvalidWindow(ValueError):
    """A calling window that cannot be read (bad time, day or zone)."""


@dataclass(frozen=True, slots=True)
class CallingWindow:
    start: time
    end: time | None  # None: midnight at the end of the day ("24:00")
    days: frozenset[int]  # 0 = Monday
    timezone: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> CallingWindow:
        start = _parse_time(str(raw.get("start", "00:00")))
        end_raw = str(raw.get("end", "24:00"))
        end = None if end_raw in ("24:00", "24:00:00") else _parse_time(end_raw)
        days_raw = raw.get("days") or DAY_NAMES
        try:
            days = frozenset(DAY_NAMES.index(str(d).strip().lower()[:3]) for d in days_raw)
        except ValueError as exc:
            raise InvalidWindow(f"unknown day in {list(days_raw)!r}; use mon..sun") from exc
        tz = raw.get("timezone")
        if tz:
            try:
                ZoneInfo(str(tz))
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise InvalidWindow(f"unknown time zone {tz!r}") from exc
        if end is not None and end == start:
            raise InvalidWindow("calling window start and end are equal")
        return cls(start=start, end=end, days=days, timezone=str(tz) if tz else None)

    def open_at_local(self, local: datetime) -> bool:
        """Whether the window is open at this wall-clock time (naive or aware, read as wall clock)."""
        t = local.time().replace(tzinfo=None)
        wd = local.weekday()
        if self.end is None or self.end > self.start:
            return wd in self.days and t >= self.start and (self.end is None or t < self.end)
        # Overnight window (22:00-06:00): the evening part belongs to its own day, the morning to the eve.
        return (wd in self.days and t >= self.start) or ((wd - 1) % 7 in self.days and t < self.end)


def _parse_time(value: str) -> time:
    try:
        parts = [int(p) for p in value.split(":")]
        if len(parts) not in (2, 3):
            raise ValueError(value)
        return time(parts[0], parts[1], parts[2] if len(parts) == 3 else 0)
    except (TypeError, ValueError) as exc:
        raise InvalidWindow(f"invalid time {value!r}; use HH:MM") from exc


def zones_for_number(e164: str) -> list[ZoneInfo]:
    """The time zones of a phone number (several for big countries); UTC when none is known."""
    try:
        num = phonenumbers.parse(e164, None)
        names = [n for n in pn_timezone.time_zones_for_number(num) if n != "Etc/Unknown"]
    except phonenumbers.NumberParseException:
        names = []
    zones: list[ZoneInfo] = []
    for name in names:
        try:
            zones.append(ZoneInfo(name))
        except ZoneInfoNotFoundError:
            continue
    return zones or [ZoneInfo("UTC")]


@dataclass(frozen=True, slots=True)
class ResolvedWindow:
    """A window bound to the zones it must hold in."""

    window: CallingWindow
    zones: tuple[ZoneInfo, ...]

    def is_open(self, at: datetime) -> bool:
        return all(self.window.open_at_local(at.astimezone(z)) for z in self.zones)

    def next_open(self, at: datetime) -> datetime | None:
        """The first instant at or after ``at`` at which the window holds in every zone; None if never.

        The intersection of the zones' open intervals starts, if anywhere, at ``at`` or at some
        zone's local opening, so those are the only candidates to test.
        """
        at = at.astimezone(UTC)
        if self.is_open(at):
            return at
        candidates: set[datetime] = set()
        for zone in self.zones:
            first = at.astimezone(zone).date() - timedelta(days=1)
            for offset in range(HORIZON_DAYS):
                for instant in _local_to_utc(first + timedelta(days=offset), self.window.start, zone):
                    if instant > at:
                        candidates.add(instant)
        for instant in sorted(candidates):
            if self.is_open(instant):
                return instant
        return None


def _local_to_utc(day: date, at: time, zone: ZoneInfo) -> list[datetime]:
    """UTC instants whose wall clock in ``zone`` reads ``day at``; both readings around a DST change.

    In a spring-forward gap the time does not exist; the candidates then fall just around the gap
    and the caller keeps only those at which the window really is open.
    """
    naive = datetime.combine(day, at)
    out = []
    for fold in (0, 1):
        out.append(naive.replace(tzinfo=zone, fold=fold).astimezone(UTC))
    return out


def resolve(
    call_window: Mapping[str, Any] | None,
    org_window: Mapping[str, Any] | None,
    to_number: str,
) -> ResolvedWindow | None:
    """The window a call must respect (its own, else its org's default) in its zones; None: any time."""
    raw = call_window or org_window
    if not raw:
        return None
    window = CallingWindow.parse(raw)
    zones: Sequence[ZoneInfo] = (
        [ZoneInfo(window.timezone)] if window.timezone else zones_for_number(to_number)
    )
    return ResolvedWindow(window=window, zones=tuple(zones))
