"""Phone numbers in E.164, through Google's libphonenumber rules (``phonenumbers``)."""

from __future__ import annotations

import phonenumbers

from outdial.api.errors import CodedValueError

MAX_INPUT_LENGTH = 32


def to_e164(raw: str, region: str | None = None) -> str:
    """``raw`` as a valid E.164 number; a national number needs ``region`` (ISO alpha-2).

    Raises :class:`CodedValueError` ``invalid_phone_number`` (a ValueError, so Pydantic validators
    may let it through and the API answers 400 with that code).
    """
    text = raw.strip() if isinstance(raw, str) else ""
    if not text or len(text) > MAX_INPUT_LENGTH:
        raise CodedValueError("invalid_phone_number", f"{raw!r} is not a phone number.")
    if region is None and not text.startswith("+"):
        raise CodedValueError(
            "invalid_phone_number",
            f"{raw!r} is not in E.164 format: start with + and the country code, e.g. +14155550123.",
        )
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise CodedValueError("invalid_phone_number", f"{raw!r} is not a phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise CodedValueError(
            "invalid_phone_number", f"{raw!r} is not a valid number for its country (check the digits)."
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
