"""The SIP package's exceptions: each carries a sentence a user or operator can act on."""

from __future__ import annotations


class SipParseError(ValueError):
    """Bytes that are not a SIP message we can use; the message says what is wrong."""


class SipError(RuntimeError):
    """A SIP operation failed (timeout, transport unreachable, peer misbehaviour)."""


class SipTimeout(SipError):
    """No final response before the transaction timer (B or F) fired."""
