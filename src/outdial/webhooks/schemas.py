"""Webhook endpoints, deliveries and signing secrets, as the API reads and writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from outdial.lifecycle import EventType

ALL_EVENTS: list[EventType] = list(EventType)
DeliveryStatus = Literal["pending", "delivering", "succeeded", "failed", "canceled"]


def _unique_events(v: list[EventType] | None) -> list[EventType] | None:
    if v is None:
        return v
    seen: list[EventType] = []
    for e in v:
        if e not in seen:
            seen.append(e)
    return seen


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        max_length=2048,
        description="HTTPS URL on a public host (http and private hosts only with "
        "OUTDIAL_ALLOW_PRIVATE_WEBHOOKS=1).",
        examples=["https://your-system.com/outdial/webhooks"],
    )
    events: list[EventType] = Field(
        default_factory=lambda: list(ALL_EVENTS),
        min_length=1,
        description="Event types to receive. Default: all of them.",
    )
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = True

    _events = field_validator("events")(_unique_events)


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2048)
    events: list[EventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None, description="true re-enables an endpoint disabled after a 410 and clears its status."
    )

    _events = field_validator("events")(_unique_events)


class EndpointOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    status: Literal["active", "failing", "disabled"] = Field(
        description="failing: every delivery has failed for 24 h; disabled: it answered 410 Gone."
    )
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="whsec_... signing secret. Shown only now: store it.")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new whsec_... secret, shown only now.")
    previous_secret_expires_at: datetime = Field(
        description="Until then deliveries carry signatures by both the new and the old secret."
    )


class OrgSecretOut(BaseModel):
    secret: str = Field(description="Signs deliveries to the per-call callback_url (whsec_...).")
    previous_secret_expires_at: datetime | None = Field(
        description="While set and in the future, the rotated-out secret also signs deliveries."
    )


class TestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    __test__ = False  # not a pytest class

    event_type: EventType = Field(
        default=EventType.CALL_ENDED, description="The type the test message claims."
    )


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_body: str | None = Field(description="The first KB of the receiver's answer.")


class DeliveryOut(BaseModel):
    id: str
    message_id: str = Field(description="The webhook-id header: the same on every retry.")
    target: Literal["endpoint", "callback"]
    endpoint_id: str | None
    call_id: str | None
    event_type: str
    url: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


class DeliveryDetail(DeliveryOut):
    attempts: list[AttemptOut]
