"""Calling windows: open hours in the callee's zones, days, several zones at once, DST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from outdial.dialer.windows import CallingWindow, InvalidWindow, resolve, zones_for_number

NY = ZoneInfo("America/New_York")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


def test_window_in_explicit_zone_is_open_inside_hours_and_closed_outside() -> None:
    w = resolve({"start": "09:00", "end": "20:00", "timezone": "America/New_York"}, None, "+447911123456")
    assert w is not None
    assert w.is_open(ny(2026, 11, 23, 9, 0))
    assert w.is_open(ny(2026, 11, 23, 19, 59))
    assert not w.is_open(ny(2026, 11, 23, 20, 0))
    assert not w.is_open(ny(2026, 11, 23, 8, 59))


def test_next_open_before_hours_is_the_same_day_start() -> None:
    w = resolve({"start": "09:00", "end": "20:00", "timezone": "America/New_York"}, None, "+12125550123")
    assert w is not None
    assert w.next_open(ny(2026, 11, 23, 6, 30)) == ny(2026, 11, 23, 9, 0).astimezone(UTC)


def test_next_open_skips_days_outside_the_window() -> None:
    w = resolve(
        {"start": "09:00", "end": "17:00", "days": WEEKDAYS, "timezone": "America/New_York"}, None, "+1"
    )
    assert w is not None
    friday_evening = ny(2026, 11, 27, 18, 0)
    assert w.next_open(friday_evening) == ny(2026, 11, 30, 9, 0).astimezone(UTC)  # Monday
    assert not w.is_open(ny(2026, 11, 28, 12, 0))  # Saturday noon


def test_zone_is_derived_from_the_callee_number_without_an_explicit_timezone() -> None:
    w = resolve({"start": "09:00", "end": "20:00"}, None, "+14155550123")  # San Francisco
    assert w is not None
    assert [z.key for z in w.zones] == ["America/Los_Angeles"]
    # 10:00 in New York is 07:00 in San Francisco: closed there.
    assert not w.is_open(ny(2026, 11, 23, 10, 0))
    assert w.next_open(ny(2026, 11, 23, 10, 0)) == ny(2026, 11, 23, 12, 0).astimezone(UTC)


def test_a_number_spanning_two_zones_needs_the_window_open_in_both() -> None:
    # +61 8 covers Adelaide (UTC+10:30 in summer) and Perth (UTC+8).
    w = resolve({"start": "09:00", "end": "20:00"}, None, "+61855501234")
    assert w is not None
    assert {z.key for z in w.zones} == {"Australia/Adelaide", "Australia/Perth"}
    adelaide = ZoneInfo("Australia/Adelaide")
    perth = ZoneInfo("Australia/Perth")
    start = datetime(2026, 11, 23, 9, 0, tzinfo=adelaide)  # 06:30 in Perth: Perth still closed
    assert not w.is_open(start)
    opening = w.next_open(start)
    assert opening == datetime(2026, 11, 23, 9, 0, tzinfo=perth).astimezone(UTC)
    assert opening.astimezone(adelaide).hour == 11 and opening.astimezone(adelaide).minute == 30
    # It closes when Adelaide reaches 20:00 (17:30 in Perth).
    assert not w.is_open(datetime(2026, 11, 23, 20, 0, tzinfo=adelaide))
    assert w.is_open(datetime(2026, 11, 23, 17, 29, tzinfo=perth))


def test_zones_that_never_overlap_give_no_opening() -> None:
    w = resolve({"start": "09:00", "end": "10:00"}, None, "+18005550123")  # Guam to Hawaii
    assert w is not None
    assert len(w.zones) > 10
    assert w.next_open(ny(2026, 11, 23, 0, 0)) is None


def test_window_follows_the_wall_clock_across_spring_forward() -> None:
    w = resolve({"start": "09:00", "end": "20:00", "timezone": "America/New_York"}, None, "+1")
    assert w is not None
    # Sat 7 Mar 2026 21:00 EST; the clocks go forward on Sunday 8 Mar at 02:00.
    opening = w.next_open(ny(2026, 3, 7, 21, 0))
    assert opening == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # 09:00 EDT = 13:00 UTC (not 14:00)
    before = w.next_open(ny(2026, 3, 6, 21, 0))
    assert before == datetime(2026, 3, 7, 14, 0, tzinfo=UTC)  # 09:00 EST = 14:00 UTC


def test_window_starting_inside_the_dst_gap_is_never_open_early() -> None:
    w = resolve({"start": "02:30", "end": "05:00", "timezone": "America/New_York"}, None, "+1")
    assert w is not None
    opening = w.next_open(ny(2026, 3, 8, 0, 0))
    assert opening is not None
    assert w.is_open(opening)
    local = opening.astimezone(NY)
    assert (local.hour, local.minute) >= (3, 0)  # 02:30 does not exist that night
    assert opening <= datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_window_across_fall_back_opens_at_local_start() -> None:
    w = resolve({"start": "09:00", "end": "20:00", "timezone": "America/New_York"}, None, "+1")
    assert w is not None
    assert w.next_open(ny(2026, 10, 31, 21, 0)) == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # EST again


def test_overnight_window_belongs_to_the_day_it_starts() -> None:
    w = CallingWindow.parse({"start": "22:00", "end": "06:00", "days": ["fri"]})
    assert w.open_at_local(datetime(2026, 11, 27, 23, 0))  # Friday 23:00
    assert w.open_at_local(datetime(2026, 11, 28, 5, 0))  # Saturday 05:00, Friday's night
    assert not w.open_at_local(datetime(2026, 11, 29, 5, 0))  # Sunday 05:00


def test_org_default_window_applies_when_the_call_has_none() -> None:
    org = {"start": "09:00", "end": "20:00", "timezone": "Europe/Paris"}
    w = resolve(None, org, "+12125550123")
    assert w is not None and [z.key for z in w.zones] == ["Europe/Paris"]
    assert resolve(None, None, "+12125550123") is None


def test_unknown_number_zone_falls_back_to_utc() -> None:
    assert [z.key for z in zones_for_number("+15555550123")] == ["UTC"]


@pytest.mark.parametrize(
    "raw",
    [
        {"start": "25:00", "end": "20:00"},
        {"start": "09:00", "end": "nine"},
        {"start": "09:00", "end": "20:00", "days": ["funday"]},
        {"start": "09:00", "end": "20:00", "timezone": "Mars/Olympus"},
        {"start": "09:00", "end": "09:00"},
    ],
)
def test_invalid_windows_are_rejected(raw: dict[str, object]) -> None:
    with pytest.raises(InvalidWindow):
        CallingWindow.parse(raw)
