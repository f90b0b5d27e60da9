"""The SIP package's exceptions: each carries a sentence a user or operator can act on."""

from __future__ import annotations


class SipParseError(ValueError):
    """Bytes that are not a SIP message we can use; the message says what is wrong."""


class SipError(RuntimeError):
    """A SIP operation failed (timeout, transport unreachable, peer misbehaviour)."""


class SipTimeout(SipError):
    """No final response before the transaction timer (B or F) fired."""


class TransferFailed(SipError):
    """A blind transfer did not happen: the REFER was refused, the peer's call to the target failed,
    or no final report came. The call itself is still up."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
