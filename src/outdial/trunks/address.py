"""A SIP trunk's address: ``host[:port]`` where host is a DNS name, an IPv4 address or ``[IPv6]``."""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _valid_hostname(host: str) -> bool:
    if len(host) > 253:
        return False
    labels = host.removesuffix(".").split(".")
    if all(label.isdigit() for label in labels):
        return False  # looks like a malformed IPv4 address, not a name
    return all(_LABEL.match(label) for label in labels)


def normalize_address(raw: str) -> str:
    """The address lower-cased and checked; raises ValueError with a sentence a user can act on."""
    value = raw.strip().lower()
    problem = (
        f"{raw!r} is not a SIP trunk address: use host or host:port, e.g. sip.example.com:5060, "
        "203.0.113.7 or [2001:db8::1]:5061 (no sip: scheme, user or path)"
    )
    if not value or any(c in value for c in "/@; ") or value.startswith("sip:") or value.startswith("sips:"):
        raise ValueError(problem)
    port: str | None = None
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep:
            raise ValueError(problem)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(problem) from None
        if rest:
            if not rest.startswith(":"):
                raise ValueError(problem)
            port = rest[1:]
        host = f"[{host}]"
    else:
        if value.count(":") > 1:
            raise ValueError(problem + "; write IPv6 addresses in brackets")
        host, _, port_part = value.partition(":")
        port = port_part if ":" in value else None
        if not host:
            raise ValueError(problem)
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            if not _valid_hostname(host):
                raise ValueError(problem) from None
    if port is not None:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"the port in {raw!r} must be a number from 1 to 65535")
        return f"{host}:{int(port)}"
    return host
