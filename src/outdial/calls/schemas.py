"""Calls in and out: the create request with its limits, the 202 answer, the call record."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from outdial.agents.schemas import AgentCreate
from outdial.calls import examples
from outdial.calls.validation import (
    CALL_CONTEXT_MAX_CHARS,
    MAX_VARIABLES,
    METADATA_MAX_BYTES,
    VARIABLE_VALUE_MAX_CHARS,
    check_call_context,
    check_country_code,
    check_metadata,
    check_sip_headers,
)
from outdial.lifecycle import AnsweredBy, CallStatus, EndReason
from outdial.orgs.inputs import reject_nul

# Per-call overrides of the agent's timers (documented in docs/api.md).
RING_TIMEOUT_RANGE = (5, 120)
MAX_DURATION_RANGE = (10, 14400)
MAX_HOLD_RANGE = (5, 3600)
SCHEDULE_HORIZON_DAYS = 365

RetryCategory = Literal["no_answer", "busy", "failed", "voicemail"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

DEFAULT_RETRY_ON: tuple[RetryCategory, ...] = ("no_answer", "busy", "failed")
VariableValue = str | int | float | bool | None


class RetryPolicy(BaseModel):
    """Try again after an attempt that ended in one of ``on``: wait ``delay_seconds × backoff^(n-1)``."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(3, ge=1, le=10, description="Attempts in all, the first one included.")
    on: list[RetryCategory] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_ON),
        min_length=1,
        max_length=4,
        description="Which endings are retried: no_answer, busy, failed (rejected, trunk or network "
        "errors), voicemail.",
    )
    delay_seconds: int = Field(60, ge=10, le=86400, description="Wait before the second attempt.")
    backoff: float = Field(1.0, ge=1.0, le=10.0, description="Multiplier of the wait for each later attempt.")

    @field_validator("on")
    @classmethod
    def _unique(cls, v: list[RetryCategory]) -> list[RetryCategory]:
        if len(set(v)) != len(v):
            raise ValueError("retry.on must not repeat a category")
        return v


class CallingWindowIn(BaseModel):
    """Local hours in which the callee may be called; ``end`` before ``start`` spans midnight."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(description="Local opening time, HH:MM (24 h).", examples=["09:00"])
    end: str = Field(description="Local closing time, HH:MM (24 h), exclusive; 24:00 is midnight.")
    days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS), min_length=1, max_length=7, description="Default: every day."
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone (e.g. America/New_York). Omitted: the callee's zones, read from "
        "to_number; when the number spans several zones the window must hold in all of them.",
    )

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str, info: Any) -> str:
        if info.field_name == "end" and v == "24:00":
            return v
        if not _HHMM.match(v):
            raise ValueError("calling_window times are HH:MM on a 24-hour clock (00:00 to 23:59)")
        return v

    @field_validator("days")
    @classmethod
    def _unique_days(cls, v: list[Weekday]) -> list[Weekday]:
        if len(set(v)) != len(v):
            raise ValueError("calling_window.days must not repeat")
        return sorted(v, key=WEEKDAYS.index)

    @field_validator("timezone")
    @classmethod
    def _iana(cls, v: str | None) -> str | None:
        if v is None:
            return None
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as Europe/Paris") from exc
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> CallingWindowIn:
        if self.start == self.end:
            raise ValueError("calling_window start and end must differ")
        return self


class CreateCallRequest(BaseModel):
    """Place one call. Give ``agent_id`` or an inline ``agent`` (exactly one)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [examples.CREATE_MINIMAL]})

    agent_id: str | None = Field(default=None, max_length=64, description="A published agent of yours.")
    agent: AgentCreate | None = Field(
        default=None, description="An inline agent (same schema as POST /v1/agents), used for this call only."
    )
    to_number: str = Field(
        min_length=1,
        max_length=32,
        description="Callee: E.164 (+18135551234), or a national number with country_code.",
    )
    country_code: str | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="ISO 3166 alpha-2 region used to read national numbers (to_number, from_number).",
    )
    from_number: str | None = Field(
        default=None,
        max_length=32,
        description="Caller ID: one of your verified VoIP numbers. Default: the agent's outbound number, "
        "else your only VoIP number.",
    )
    phone_number_id: str | None = Field(
        default=None, max_length=64, description="Caller ID by phone-number id (instead of from_number)."
    )
    call_context: str | None = Field(
        default=None,
        description=f"Context for this call, appended to the agent's prompt (max {CALL_CONTEXT_MAX_CHARS} "
        "characters).",
        json_schema_extra={"maxLength": CALL_CONTEXT_MAX_CHARS},
    )
    variables: dict[str, VariableValue] = Field(
        default_factory=dict,
        max_length=MAX_VARIABLES,
        description="Values of the agent's input_parameters: unknown keys or missing required ones are "
        "a 400 invalid_variables.",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Opaque JSON object (max {METADATA_MAX_BYTES} bytes serialized), echoed back verbatim "
        "as request_metadata.",
    )
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        description="https URL on a public host that receives call.ended (signed) when the call ends.",
    )
    scheduled_at: datetime | None = Field(
        default=None,
        description="Dial no earlier than this (ISO 8601; no offset means UTC). In the past or absent: now.",
    )
    ring_timeout_seconds: int | None = Field(
        default=None, ge=RING_TIMEOUT_RANGE[0], le=RING_TIMEOUT_RANGE[1], description="Override the agent's."
    )
    max_duration_seconds: int | None = Field(
        default=None, ge=MAX_DURATION_RANGE[0], le=MAX_DURATION_RANGE[1], description="Override the agent's."
    )
    max_hold_seconds: int | None = Field(
        default=None, ge=MAX_HOLD_RANGE[0], le=MAX_HOLD_RANGE[1], description="Override the agent's."
    )
    retry: RetryPolicy | None = Field(default=None, description="Retry policy; absent: one attempt.")
    calling_window: CallingWindowIn | None = Field(
        default=None, description="Local hours in which to call; absent: the organization's default."
    )
    sip_headers: dict[str, str] = Field(
        default_factory=dict, description="Extra SIP headers on the INVITE; names must start with X-."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return reject_nul(data)  # PostgreSQL text and JSONB cannot hold NUL: refuse it on both stores

    @field_validator("call_context")
    @classmethod
    def _context(cls, v: str | None) -> str | None:
        return check_call_context(v)

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata(cls, v: Any) -> Any:
        return {} if v is None else check_metadata(v)

    @field_validator("variables")
    @classmethod
    def _variables(cls, v: dict[str, VariableValue]) -> dict[str, VariableValue]:
        for name, value in v.items():
            if not name or len(name) > 64:
                raise ValueError("variable names are 1 to 64 characters")
            if isinstance(value, str) and len(value) > VARIABLE_VALUE_MAX_CHARS:
                raise ValueError(f"variable {name!r} is longer than {VARIABLE_VALUE_MAX_CHARS} characters")
        return v

    @field_validator("sip_headers")
    @classmethod
    def _sip_headers(cls, v: dict[str, str]) -> dict[str, str]:
        return check_sip_headers(v)

    @field_validator("country_code")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        return check_country_code(v)


class CallCreated(BaseModel):
    """The call was accepted; it dials within seconds (or at ``scheduled_at``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.CREATED]})

    id: str
    status: Literal["queued", "scheduled"]
    room_name: str = Field(
        description="agent-{agent_id}-out-{id} (agent-inline-out-{id} for an inline agent)."
    )
    created_at: datetime


class AttemptOut(BaseModel):
    number: int = Field(description="1 for the first attempt.")
    status: str
    end_reason: EndReason | None
    sip_status_code: int | None
    error: str | None
    dialed_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None


class CallOut(BaseModel):
    """One call, with everything known about it so far."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.CALL]})

    id: str
    agent_id: str | None
    source: str = Field(description="Which surface created it: native, telzino, twenty2, polyai, byo.")
    room_name: str
    to_number: str
    from_number: str
    phone_number_id: str | None
    status: CallStatus
    end_reason: EndReason | None
    answered_by: AnsweredBy | None
    request_metadata: Any = Field(description="The metadata you sent, verbatim.")
    variables: dict[str, Any]
    call_context: str | None
    callback_url: str | None
    sip_headers: dict[str, str]
    ring_timeout_seconds: int
    max_duration_seconds: int
    max_hold_seconds: int | None
    retry: dict[str, Any] | None
    calling_window: dict[str, Any] | None
    created_at: datetime
    scheduled_at: datetime | None
    next_attempt_at: datetime | None
    dialed_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    error: str | None
    sip_status_code: int | None
    attempt_count: int
    attempts: list[AttemptOut]
    transcript_id: str | None
    recording_url: str | None = Field(description="Signed, expiring link; null when there is no recording.")
    outcome: dict[str, Any] | None
    cost: int | None = Field(description="Cost in cents (null until billed, or when billing is off).")
    billable_minutes: int | None
    callback_delivered: bool
