"""Final SIP statuses map to DESIGN end reasons (the status itself is kept in Ended.sip_status)."""

from __future__ import annotations

import pytest

from outdial.lifecycle import EndReason
from outdial.sip import end_reason_for_status


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (486, EndReason.BUSY),
        (600, EndReason.BUSY),
        (480, EndReason.NO_ANSWER),
        (408, EndReason.NO_ANSWER),
        (487, EndReason.NO_ANSWER),
        (404, EndReason.REJECTED),
        (484, EndReason.REJECTED),
        (604, EndReason.REJECTED),
        (403, EndReason.REJECTED),
        (488, EndReason.REJECTED),
        (603, EndReason.REJECTED),
        (302, EndReason.REJECTED),
        (500, EndReason.TRUNK_ERROR),
        (503, EndReason.TRUNK_ERROR),
    ],
)
def test_status_maps_to_end_reason(status: int, reason: EndReason) -> None:
    assert end_reason_for_status(status) is reason
