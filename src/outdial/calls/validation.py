"""The rules a call request must meet that are plain functions of its values (no database).

Pydantic validators in :mod:`outdial.calls.schemas` and the service both call these, so a vendor
surface building a request by hand gets exactly the same answers, with the same stable codes.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import phonenumbers

from outdial.api.errors import ApiError, CodedValueError

# Limits that are part of the public contract (README and docs/api.md list them).
CALL_CONTEXT_MAX_CHARS = 4000
METADATA_MAX_BYTES = 16 * 1024  # of the compact UTF-8 JSON serialization
MAX_SIP_HEADERS = 20
SIP_HEADER_NAME_MAX = 64
SIP_HEADER_VALUE_MAX = 256
SIP_HEADERS_MAX_BYTES = 4096  # names + values together
MAX_VARIABLES = 64
VARIABLE_VALUE_MAX_CHARS = 4000

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
# RFC 3261 token characters.
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")


def metadata_size(metadata: Any) -> int:
    """Bytes of ``metadata`` serialized compactly as UTF-8 JSON: what the 16 KB limit measures."""
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())


def check_metadata(metadata: Any) -> Any:
    if not isinstance(metadata, dict):
        raise CodedValueError("invalid_request", "metadata must be a JSON object.")
    size = metadata_size(metadata)
    if size > METADATA_MAX_BYTES:
        raise CodedValueError(
            "metadata_too_large",
            f"metadata is {size} bytes serialized; the limit is {METADATA_MAX_BYTES} bytes (16 KB).",
        )
    return metadata


def check_call_context(value: str | None) -> str | None:
    if value is not None and len(value) > CALL_CONTEXT_MAX_CHARS:
        raise CodedValueError(
            "call_context_too_long",
            f"call_context is {len(value)} characters; the limit is {CALL_CONTEXT_MAX_CHARS}.",
        )
    return value


def check_sip_headers(headers: dict[str, str]) -> dict[str, str]:
    """Custom SIP headers: ``X-`` names of token characters, single-line values, bounded in size."""
    if len(headers) > MAX_SIP_HEADERS:
        raise CodedValueError("invalid_request", f"At most {MAX_SIP_HEADERS} sip_headers are allowed.")
    seen: set[str] = set()
    total = 0
    for name, value in headers.items():
        if not name[:2].lower() == "x-" or len(name) < 3:
            raise CodedValueError("invalid_request", f"SIP header {name!r} must start with X-.")
        if len(name) > SIP_HEADER_NAME_MAX or not _TOKEN.match(name):
            raise CodedValueError(
                "invalid_request",
                f"SIP header name {name!r} must be at most {SIP_HEADER_NAME_MAX} token characters "
                "(letters, digits and -.!%*_+`'~).",
            )
        if name.lower() in seen:
            raise CodedValueError("invalid_request", f"SIP header {name!r} is given twice.")
        seen.add(name.lower())
        if not isinstance(value, str):
            raise CodedValueError("invalid_request", f"SIP header {name!r} must have a string value.")
        if len(value) > SIP_HEADER_VALUE_MAX:
            raise CodedValueError(
                "invalid_request", f"SIP header {name!r} is longer than {SIP_HEADER_VALUE_MAX} characters."
            )
        if any(c in "\r\n\x00" or (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
            raise CodedValueError(
                "invalid_request", f"SIP header {name!r} must be one line without control characters."
            )
        total += len(name.encode()) + len(value.encode())
    if total > SIP_HEADERS_MAX_BYTES:
        raise CodedValueError(
            "invalid_request", f"sip_headers are {total} bytes; the limit is {SIP_HEADERS_MAX_BYTES}."
        )
    return headers


def check_country_code(value: str | None) -> str | None:
    if value is None:
        return None
    region = value.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise CodedValueError(
            "invalid_request", f"country_code {value!r} is not an ISO 3166 alpha-2 code with a phone plan."
        )
    return region


def normalize_number(raw: str, country_code: str | None, *, param: str) -> str:
    """E.164 of ``raw``: strict E.164 without a country, a national number read in ``country_code``.

    Raises ``invalid_phone_number`` (400) naming ``param``.
    """
    text = raw.strip()
    if country_code is None and not _E164.match(text):
        raise ApiError(
            400,
            "invalid_phone_number",
            f"{param} {raw!r} must be in E.164 format (e.g. +18135551234), or give country_code "
            "to read a national number.",
            param,
        )
    e164, failure = _parsed(text, None if country_code is None else country_code.upper())
    if failure == "parse":
        raise ApiError(400, "invalid_phone_number", f"{param} {raw!r} is not a phone number.", param)
    if e164 is None:
        raise ApiError(400, "invalid_phone_number", f"{param} {raw!r} is not a valid phone number.", param)
    return e164


@lru_cache(maxsize=8192)
def _parsed(text: str, region: str | None) -> tuple[str | None, str]:
    """(E.164, "") for a valid number, else (None, "parse" | "invalid"). Cached: parsing costs more
    than the rest of a call's validation, and campaigns call the same numbers again."""
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, "parse"
    if not phonenumbers.is_valid_number(parsed):
        return None, "invalid"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), ""


def check_variables(variables: dict[str, Any], parameters: list[dict[str, Any]]) -> None:
    """``variables`` must name only the agent's input parameters and give every required one."""
    known = {str(p.get("name")) for p in parameters}
    unknown = sorted(set(variables) - known)
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        raise ApiError(
            400,
            "invalid_variables",
            f"Unknown variables {unknown}; this agent's input parameters are: {accepted}.",
            "variables",
        )
    missing = sorted(
        str(p["name"]) for p in parameters if p.get("required") and p.get("name") not in variables
    )
    if missing:
        raise ApiError(400, "invalid_variables", f"Missing required variables {missing}.", "variables")
