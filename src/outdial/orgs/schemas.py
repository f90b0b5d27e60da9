"""Organization in and out. ``settings`` holds the org-wide knobs; other domains add their own keys."""

from __future__ import annotations

from datetime import datetime

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from outdial.calls.schemas import CallingWindowIn as CallingWindow
from outdial.orgs.inputs import CleanInput

MAX_CONCURRENT_CALLS = 10_000


def check_country(value: str | None) -> str | None:
    """An ISO 3166 alpha-2 code that phonenumbers can parse numbers for, upper-cased."""
    if value is None:
        return None
    code = value.upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not a supported ISO 3166 alpha-2 country code (e.g. US, GB, IN)")
    return code


class OrganizationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b6c4a52-4f0e-4c43-a8b5-2f0f5e6b1a11",
                    "name": "acme",
                    "default_country": "US",
                    "max_concurrent_calls": 20,
                    "calling_window": {
                        "start": "09:00",
                        "end": "18:00",
                        "days": ["mon", "tue", "wed", "thu", "fri"],
                        "timezone": "America/New_York",
                    },
                    "created_at": "2026-11-22T06:00:00Z",
                }
            ]
        }
    )

    id: str
    name: str
    default_country: str | None = Field(
        description="ISO 3166 alpha-2; national numbers without a country code are read in it."
    )
    max_concurrent_calls: int | None = Field(description="Live calls at once across the org; null: no cap.")
    calling_window: CallingWindow | None = Field(
        description="Default calling window for calls that set none (same shape as a call's); "
        "null: any time. Without a timezone it is read in the callee's zones."
    )
    created_at: datetime


class OrganizationUpdate(CleanInput):
    """Only the fields sent change; send null to clear one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "default_country": "IN",
                    "max_concurrent_calls": 20,
                    "calling_window": {
                        "start": "09:00",
                        "end": "18:00",
                        "days": ["mon", "tue", "wed", "thu", "fri"],
                        "timezone": "Asia/Kolkata",
                    },
                }
            ]
        },
    )

    default_country: str | None = Field(default=None, min_length=2, max_length=2, examples=["US"])
    max_concurrent_calls: int | None = Field(default=None, ge=1, le=MAX_CONCURRENT_CALLS)
    calling_window: CallingWindow | None = None

    @field_validator("default_country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        return check_country(v)
