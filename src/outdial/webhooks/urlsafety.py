"""Which URLs outdial may send results to: https only, no credentials, never a private network.

Two checks. :func:`check_url_static` needs no network: syntax, scheme, credentials, and any host that
is an IP literal in whatever spelling (``2130706433``, ``0x7f.1``, ``017700000001``, ``[::ffff:7f00:1]``)
or a name reserved for local use (``localhost``, ``*.localhost``...). :func:`resolve_safe_target` also
resolves the name and requires every address to be public; the caller then connects to one of those very
addresses (see :mod:`outdial.webhooks.transport`), so a second DNS answer cannot swap in a private one.
``allow_private`` (``OUTDIAL_ALLOW_PRIVATE_WEBHOOKS=1``) lifts the address rules and allows plain http,
for local development; cloud metadata addresses stay forbidden even then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the name resolves to, as strings.
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_LENGTH = 2048

# Instance metadata services: never a webhook target, development mode included.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS VPC DNS
        "169.254.169.123",  # AWS time sync
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS VPC DNS over IPv6
    )
)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data", "metadata.azure.com"})

# Names that only ever mean "this machine" or "this local network".
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan", ".intranet")
LOCAL_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "broadcasthost"}
)

CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class UnsafeUrlError(ValueError):
    """A callback or webhook URL outdial refuses to send to; ``message`` says why, for the user."""

    code = "invalid_callback_url"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnresolvableHostError(UnsafeUrlError):
    """The URL's host name has no address right now (a delivery failure, retried later)."""


@dataclass(frozen=True, slots=True)
class SafeTarget:
    """A URL that passed every rule, with the addresses that were checked: connect to one of these."""

    url: str
    scheme: str
    host: str  # normalized: lower case, IDNA, no trailing dot, no brackets
    port: int
    addresses: tuple[str, ...]
    ip_literal: bool


@dataclass(frozen=True, slots=True)
class _Parsed:
    url: str
    scheme: str
    host: str
    port: int
    literal: IPAddress | None


def check_url_static(url: str, *, allow_private: bool) -> None:
    """Raise :class:`UnsafeUrlError` unless ``url`` is acceptable without looking anything up."""
    _parse(url, allow_private=allow_private)


async def resolve_safe_target(
    url: str, *, allow_private: bool, resolver: Resolver | None = None
) -> SafeTarget:
    """Check ``url``, resolve its host and check every address; the addresses to connect to."""
    parsed = _parse(url, allow_private=allow_private)
    if parsed.literal is not None:
        addresses: tuple[str, ...] = (str(parsed.literal),)
    else:
        resolve = resolver or system_resolver
        try:
            found = await resolve(parsed.host, parsed.port)
        except (OSError, UnicodeError) as exc:
            raise UnresolvableHostError(f"The host {parsed.host!r} could not be resolved ({exc}).") from exc
        if not found:
            raise UnresolvableHostError(f"The host {parsed.host!r} has no address.")
        checked: list[str] = []
        for raw in found:
            ip = _ip_from_resolver(raw)
            reason = address_problem(ip, allow_private=allow_private)
            if reason is not None:
                raise UnsafeUrlError(f"The host {parsed.host!r} resolves to {ip}, {reason}.")
            if str(ip) not in checked:
                checked.append(str(ip))
        addresses = tuple(checked)
    return SafeTarget(
        url=parsed.url,
        scheme=parsed.scheme,
        host=parsed.host,
        port=parsed.port,
        addresses=addresses,
        ip_literal=parsed.literal is not None,
    )


async def system_resolver(host: str, port: int) -> list[str]:
    """Every TCP address the system resolver gives for ``host``."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def address_problem(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why ``ip`` may not receive webhooks (a phrase), or None when it may."""
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = embedded_ipv4(ip)
        if embedded is not None:
            inner = address_problem(embedded, allow_private=allow_private)
            return f"which embeds {embedded}, {inner}" if inner else None
        if ip in NAT64_LOCAL and not allow_private:
            return "a local-use NAT64 address"
        if ip.scope_id and not allow_private:
            return "a scoped (link-local) address"
    if allow_private:
        return None
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT:
        return "a carrier-grade NAT (100.64.0.0/10) address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "not a public address"
    return None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, NAT64, 6to4, Teredo), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    packed = int(ip)
    if packed >> 32 == 0 and packed > 1:  # deprecated IPv4-compatible ::a.b.c.d (not :: or ::1)
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    if ip in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address; the server one is public by construction
    return None


def parse_ipv4_any(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in any spelling ``inet_aton`` and browsers accept, or None if ``host`` is no number.

    ``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``, ``127.0.0.1.`` all mean loopback.
    Raises :class:`UnsafeUrlError` for a host that looks numeric but is no valid address.
    """
    text = host[:-1] if host.endswith(".") else host
    parts = text.split(".")
    if not parts or not _looks_numeric(parts[-1]):
        return None
    if len(parts) > 4:
        raise UnsafeUrlError(f"The host {host!r} is not a valid address.")
    values: list[int] = []
    for part in parts:
        value = _ipv4_part(part)
        if value is None:
            raise UnsafeUrlError(f"The host {host!r} is not a valid address.")
        values.append(value)
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise UnsafeUrlError(f"The host {host!r} is not a valid address.")
    number = last
    for i, v in enumerate(head):
        number |= v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def _looks_numeric(label: str) -> bool:
    if not label:
        return False
    if label.lower().startswith("0x"):
        return all(c in "0123456789abcdefABCDEF" for c in label[2:])
    return label.isdigit()


def _ipv4_part(part: str) -> int | None:
    if not part:
        return None
    try:
        if part.lower().startswith("0x"):
            return int(part[2:], 16) if part[2:] else 0
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _ip_from_resolver(raw: str) -> IPAddress:
    text = raw.split("%", 1)[0]  # a zone id on a link-local answer
    try:
        ip = ipaddress.ip_address(text)
    except ValueError as exc:
        raise UnsafeUrlError(f"The resolver returned an invalid address {raw!r}.") from exc
    if "%" in raw and isinstance(ip, ipaddress.IPv6Address):
        return ipaddress.IPv6Address(raw)
    return ip


def _parse(url: str, *, allow_private: bool) -> _Parsed:
    if not isinstance(url, str) or not url:
        raise UnsafeUrlError("The URL is empty.")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrlError(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in url):
        raise UnsafeUrlError("The URL contains spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url)
        port_given = parts.port
    except ValueError as exc:
        raise UnsafeUrlError(f"The URL is malformed ({exc}).") from exc
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_private and scheme == "http"):
        raise UnsafeUrlError("The URL must use https://.")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UnsafeUrlError("The URL must not contain credentials.")
    host, literal = _host(parts)
    port = port_given if port_given is not None else (443 if scheme == "https" else 80)
    if port == 0:
        raise UnsafeUrlError("The URL's port must not be 0.")
    if literal is not None:
        reason = address_problem(literal, allow_private=allow_private)
        if reason is not None:
            raise UnsafeUrlError(f"The URL's host {literal} is {reason}.")
    else:
        _check_name(host, allow_private=allow_private)
    return _Parsed(url=url, scheme=scheme, host=host, port=port, literal=literal)


def _host(parts: SplitResult) -> tuple[str, IPAddress | None]:
    netloc = parts.netloc
    hostport = netloc.rsplit("@", 1)[-1]
    if hostport.startswith("["):
        inside = hostport[1 : hostport.find("]")] if "]" in hostport else ""
        if "%" in inside:
            raise UnsafeUrlError("The URL's IPv6 host must not carry a zone id.")
        try:
            return inside.lower(), ipaddress.IPv6Address(inside)
        except ValueError as exc:
            raise UnsafeUrlError(f"The URL's IPv6 host {inside!r} is invalid.") from exc
    raw = parts.hostname or ""
    if not raw:
        raise UnsafeUrlError("The URL has no host.")
    if "%" in raw:
        raise UnsafeUrlError("The URL's host must not be percent-encoded.")
    try:
        host = raw.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UnsafeUrlError(f"The URL's host {raw!r} is not a valid name.") from exc
    v4 = parse_ipv4_any(host)
    if v4 is not None:
        return str(v4), v4
    host = host.rstrip(".")
    if not host or len(host) > 253 or any(not _label_ok(label) for label in host.split(".")):
        raise UnsafeUrlError(f"The URL's host {raw!r} is not a valid name.")
    return host, None


def _label_ok(label: str) -> bool:
    if not 0 < len(label) <= 63 or label.startswith("-") or label.endswith("-"):
        return False
    return all(c.isascii() and (c.isalnum() or c in "-_") for c in label)


def _check_name(host: str, *, allow_private: bool) -> None:
    if host in METADATA_NAMES:
        raise UnsafeUrlError(f"The URL's host {host!r} is a cloud metadata service.")
    if allow_private:
        return
    if host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES) or "." not in host:
        raise UnsafeUrlError(f"The URL's host {host!r} is a local name, not a public one.")
