"""SIP trunks in and out. The password is write-only: responses carry ``has_password`` instead."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from outdial.orgs.inputs import CleanInput
from outdial.trunks.address import normalize_address

Transport = Literal["udp", "tcp", "tls"]
MediaEncryption = Literal["none", "srtp", "srtp_required"]

MAX_CONCURRENT_CALLS = 10_000
MAX_CALLS_PER_SECOND = 1_000.0

_EXAMPLE: dict[str, Any] = {
    "name": "Primary carrier",
    "address": "sip.carrier.example:5060",
    "transport": "udp",
    "username": "acme",
    "password": "s3cret",
    "media_encryption": "none",
    "max_concurrent_calls": 30,
    "calls_per_second": 5,
}


class _TrunkFields(CleanInput):
    @field_validator("address", check_fields=False)
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        return None if v is None else normalize_address(v)


class TrunkCreate(_TrunkFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    name: str | None = Field(default=None, max_length=200)
    address: str = Field(min_length=1, max_length=300, description="host[:port] of the carrier's SIP server.")
    transport: Transport = "udp"
    username: str | None = Field(default=None, max_length=200, description="Digest auth user.")
    password: str | None = Field(
        default=None, max_length=500, description="Digest auth password; never returned."
    )
    media_encryption: MediaEncryption = "none"
    max_concurrent_calls: int | None = Field(default=None, ge=1, le=MAX_CONCURRENT_CALLS)
    calls_per_second: float | None = Field(default=None, gt=0, le=MAX_CALLS_PER_SECOND)


class TrunkUpdate(_TrunkFields):
    """Only the fields sent change; null clears an optional field. A new address or transport unverifies
    the trunk's phone numbers."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"address": "sip2.carrier.example", "calls_per_second": 10}]},
    )

    name: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, min_length=1, max_length=300)
    transport: Transport | None = None
    username: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, max_length=500)
    media_encryption: MediaEncryption | None = None
    max_concurrent_calls: int | None = Field(default=None, ge=1, le=MAX_CONCURRENT_CALLS)
    calls_per_second: float | None = Field(default=None, gt=0, le=MAX_CALLS_PER_SECOND)


class TrunkOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "5d4c3b2a-1f0e-4d9c-8b7a-665544332211",
                    **{k: v for k, v in _EXAMPLE.items() if k != "password"},
                    "has_password": True,
                    "created_at": "2026-11-22T06:00:00Z",
                    "updated_at": "2026-11-22T06:00:00Z",
                }
            ]
        },
    )

    id: str
    name: str | None
    address: str
    transport: Transport
    username: str | None
    has_password: bool
    media_encryption: MediaEncryption
    max_concurrent_calls: int | None
    calls_per_second: float | None
    created_at: datetime
    updated_at: datetime
