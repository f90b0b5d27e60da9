"""Phone numbers in and out. ``verified`` is read-only: only ``verify-voip`` sets it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from outdial.numbers.e164 import to_e164
from outdial.orgs.inputs import CleanInput

Kind = Literal["voip", "demo"]

_EXAMPLE: dict[str, Any] = {
    "number": "+14155550123",
    "kind": "voip",
    "trunk_id": "5d4c3b2a-1f0e-4d9c-8b7a-665544332211",
    "active": True,
    "outbound_agent_id": "6f1c2d3e-0a1b-4c5d-8e9f-112233445566",
}


class NumberCreate(CleanInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    number: str = Field(description="E.164, e.g. +14155550123 (spaces and dashes are accepted).")
    kind: Kind = Field(
        default="voip", description="voip: calls go out through trunk_id; demo: places no calls."
    )
    trunk_id: str | None = Field(default=None, description="One of your SIP trunks; required for voip.")
    active: bool = True
    outbound_agent_id: str | None = Field(default=None, description="The agent that calls from this number.")

    @field_validator("number")
    @classmethod
    def _e164(cls, v: str) -> str:
        return to_e164(v)


class NumberUpdate(CleanInput):
    """Only the fields sent change. The number itself is fixed (delete and re-add to change it); a new
    trunk clears ``verified``."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"active": False, "outbound_agent_id": None}]}
    )

    kind: Kind | None = None
    trunk_id: str | None = None
    active: bool | None = None
    outbound_agent_id: str | None = None


class NumberOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "a3b4c5d6-7e8f-4a0b-9c1d-2e3f4a5b6c7d",
                    **_EXAMPLE,
                    "verified": False,
                    "verified_at": None,
                    "created_at": "2026-11-22T06:00:00Z",
                }
            ]
        },
    )

    id: str
    number: str
    kind: Kind
    trunk_id: str | None
    verified: bool = Field(description="The trunk answered a SIP OPTIONS ping for it (verify-voip).")
    verified_at: datetime | None
    active: bool
    outbound_agent_id: str | None
    created_at: datetime
