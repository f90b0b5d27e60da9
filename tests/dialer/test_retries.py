"""Retry policies: which endings retry, how many times, after how long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outdial.dialer.retries import RetryPolicy
from outdial.lifecycle import EndReason


def test_no_policy_means_one_attempt() -> None:
    assert not RetryPolicy.parse(None).allows(EndReason.NO_ANSWER, 1)


def test_policy_retries_only_its_categories_up_to_max_attempts() -> None:
    p = RetryPolicy.parse({"max_attempts": 3, "on": ["no_answer", "busy"]})
    assert p.allows(EndReason.NO_ANSWER, 1)
    assert p.allows(EndReason.BUSY, 2)
    assert not p.allows(EndReason.BUSY, 3)
    assert not p.allows(EndReason.TRUNK_ERROR, 1)
    assert not p.allows(EndReason.CALLEE_HANGUP, 1)
    assert not p.allows(EndReason.CANCELED, 1)


def test_failed_category_covers_worker_lost_and_trunk_errors() -> None:
    p = RetryPolicy.parse({"max_attempts": 2, "on": ["failed"]})
    for reason in (EndReason.WORKER_LOST, EndReason.TRUNK_ERROR, EndReason.REJECTED, EndReason.NETWORK_ERROR):
        assert p.allows(reason, 1)


def test_backoff_multiplies_the_delay_per_attempt() -> None:
    p = RetryPolicy.parse({"max_attempts": 4, "on": ["busy"], "delay_seconds": 30, "backoff": 2})
    t = datetime(2026, 1, 1, tzinfo=UTC)
    assert p.next_attempt_at(t, 1) == t + timedelta(seconds=30)
    assert p.next_attempt_at(t, 2) == t + timedelta(seconds=60)
    assert p.next_attempt_at(t, 3) == t + timedelta(seconds=120)


@pytest.mark.parametrize(
    "raw",
    [
        {"max_attempts": 0},
        {"max_attempts": 11},
        {"on": ["sometimes"]},
        {"delay_seconds": -1},
        {"backoff": 0.5},
    ],
)
def test_invalid_policies_are_rejected(raw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy.parse(raw)
