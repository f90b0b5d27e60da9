"""SRTP with SDES keys (RFC 4568): AES_CM_128_HMAC_SHA1_80 through libsrtp (pylibsrtp).

Each direction has its own 30-byte master key + salt: ours (``tx_key``, offered in our SDP
``a=crypto`` line) protects what we send, the peer's (``rx_key``, from its SDP) what we receive.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

import pylibsrtp

SRTP_PROFILE = "AES_CM_128_HMAC_SHA1_80"
MASTER_KEY_LENGTH = 30  # 16-byte AES key + 14-byte salt


class SrtpError(ValueError):
    """An SRTP key of the wrong size, or a packet that fails authentication or replay checks."""


def generate_srtp_key() -> bytes:
    """A fresh random master key + salt (30 bytes) for an SDES ``inline:`` key."""
    return os.urandom(MASTER_KEY_LENGTH)


def key_to_inline(key: bytes) -> str:
    """The base64 text that goes after ``inline:`` in an SDP crypto attribute."""
    return base64.b64encode(key).decode("ascii")


def key_from_inline(text: str) -> bytes:
    """The master key + salt of an ``inline:`` value (lifetime and MKI parameters after ``|`` ignored)."""
    try:
        key = base64.b64decode(text.split("|", 1)[0], validate=True)
    except ValueError as exc:
        raise SrtpError(f"SRTP inline key is not valid base64: {exc}") from None
    if len(key) != MASTER_KEY_LENGTH:
        raise SrtpError(f"SRTP inline key is {len(key)} bytes, {SRTP_PROFILE} needs {MASTER_KEY_LENGTH}")
    return key


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    tx_key: bytes
    rx_key: bytes

    def __post_init__(self) -> None:
        for name, key in (("tx_key", self.tx_key), ("rx_key", self.rx_key)):
            if len(key) != MASTER_KEY_LENGTH:
                raise SrtpError(f"SRTP {name} is {len(key)} bytes, {SRTP_PROFILE} needs {MASTER_KEY_LENGTH}")


class SrtpContext:
    """The two libsrtp sessions of one stream: outbound (protect) and inbound (unprotect)."""

    __slots__ = ("_rx", "_tx")

    def __init__(self, keys: SrtpKeys) -> None:
        policy = pylibsrtp.Policy
        profile = policy.SRTP_PROFILE_AES128_CM_SHA1_80
        self._tx = pylibsrtp.Session(
            policy(key=keys.tx_key, ssrc_type=policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
        )
        self._rx = pylibsrtp.Session(
            policy(key=keys.rx_key, ssrc_type=policy.SSRC_ANY_INBOUND, srtp_profile=profile)
        )

    def protect(self, packet: bytes) -> bytes:
        return self._tx.protect(packet)

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self._tx.protect_rtcp(packet)

    def unprotect(self, packet: bytes) -> bytes:
        try:
            return self._rx.unprotect(packet)
        except pylibsrtp.Error as exc:
            raise SrtpError(f"SRTP packet rejected: {exc}") from None

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        try:
            return self._rx.unprotect_rtcp(packet)
        except pylibsrtp.Error as exc:
            raise SrtpError(f"SRTCP packet rejected: {exc}") from None
