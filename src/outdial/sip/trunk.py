"""A SIP trunk as the dialer describes it, and the TLS context it implies."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Literal

from outdial.sip.sdp import MediaEncryption

TransportName = Literal["udp", "tcp", "tls"]
DEFAULT_PORTS: dict[str, int] = {"udp": 5060, "tcp": 5060, "tls": 5061}


@dataclass
class TrunkConfig:
    address: str  # host[:port]
    transport: TransportName = "udp"
    username: str | None = None
    password: str | None = None
    media_encryption: MediaEncryption = "none"
    tls_ca_file: str | None = None  # None: the system's trust store
    tls_verify: bool = True  # verify the trunk's certificate chain and host name

    def __post_init__(self) -> None:
        if self.transport not in DEFAULT_PORTS:
            raise ValueError(f"transport must be udp, tcp or tls, not {self.transport!r}")
        if self.media_encryption not in ("none", "srtp", "srtp_required"):
            raise ValueError(
                f"media_encryption must be none, srtp or srtp_required, not {self.media_encryption!r}"
            )
        self.host_port()

    def host_port(self) -> tuple[str, int]:
        text = self.address.strip()
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = rest.lstrip(":")
        else:
            host, _, port = text.partition(":")
        if not host:
            raise ValueError(f"trunk address {self.address!r} has no host")
        if port and (not port.isdigit() or not 0 < int(port) < 65536):
            raise ValueError(f"trunk address {self.address!r} has an invalid port")
        return host, int(port) if port else DEFAULT_PORTS[self.transport]

    def ssl_context(self) -> ssl.SSLContext:
        """Client TLS context: verification on unless tls_verify is False; tls_ca_file replaces system CAs."""
        ctx = ssl.create_default_context(cafile=self.tls_ca_file)
        if not self.tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx
