"""SIP header names and the structured values inside them: URIs, name-addr, Via, parameters (RFC 3261 §25)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from outdial.sip.errors import SipParseError

# RFC 3261 §7.3.3 and later RFCs' compact forms.
COMPACT: dict[str, str] = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "x": "Session-Expires",
    "y": "Identity",
}

# Names whose conventional spelling is not plain title case.
_SPECIAL: dict[str, str] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "p-asserted-identity": "P-Asserted-Identity",
    "p-preferred-identity": "P-Preferred-Identity",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

# Headers whose grammar is a comma-separated list (§7.3.1): one line may carry several values.
# Authentication headers are deliberately absent: their parameters are comma-separated too.
LIST_HEADERS: frozenset[str] = frozenset(
    {
        "Via",
        "Route",
        "Record-Route",
        "Contact",
        "Allow",
        "Supported",
        "Require",
        "Proxy-Require",
        "Unsupported",
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Content-Encoding",
        "Allow-Events",
        "P-Asserted-Identity",
    }
)

TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")


def is_token(text: str) -> bool:
    return bool(text) and all(c in TOKEN_CHARS for c in text)


@lru_cache(maxsize=1024)
def canonical_name(name: str) -> str:
    """The long, conventionally capitalised form of a header name (compact forms expanded)."""
    if not is_token(name):
        raise SipParseError(f"invalid header name {name!r}")
    low = name.lower()
    if low in COMPACT:
        return COMPACT[low]
    if low in _SPECIAL:
        return _SPECIAL[low]
    return "-".join(part[:1].upper() + part[1:] for part in low.split("-"))


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on sep outside quoted strings and <...>, the way list headers and parameters need."""
    if '"' not in text and "<" not in text:
        return text.split(sep)  # the common case, without the character walk
    parts: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    angle = 0
    for ch in text:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle += 1
        elif not quoted and ch == ">" and angle:
            angle -= 1
        elif ch == sep and not quoted and not angle:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return parts


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        out: list[str] = []
        it = iter(text[1:-1])
        for ch in it:
            out.append(next(it, "") if ch == "\\" else ch)
        return "".join(out)
    return text


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_params(text: str) -> dict[str, str | None]:
    """`;a=1;b;c="x y"` (the leading ';' optional) to an ordered dict; names lower-cased."""
    params: dict[str, str | None] = {}
    for raw in split_top_level(text, ";"):
        item = raw.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        if not is_token(name):
            raise SipParseError(f"invalid parameter {item!r}")
        params[name] = value.strip() if eq else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass
class SipUri:
    """sip:/sips: URI (RFC 3261 §19.1); tel: and others keep their text in `user`."""

    scheme: str
    host: str
    user: str | None = None
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    password: str | None = None
    headers: str | None = None

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip()
        scheme, colon, rest = text.partition(":")
        if not colon or not scheme.isalpha():
            raise SipParseError(f"invalid URI {text!r}")
        scheme = scheme.lower()
        if scheme not in ("sip", "sips"):
            return cls(scheme=scheme, host="", user=rest)
        rest, _, headers = rest.partition("?")
        userinfo, at, hostpart = rest.rpartition("@")
        if not at:
            hostpart = rest
        hostport, _, paramtext = hostpart.partition(";")
        host, port = _split_hostport(hostport, text)
        user: str | None = None
        password: str | None = None
        if at:
            user, _, pw = userinfo.partition(":")
            password = pw or None
            if not user:
                raise SipParseError(f"empty user in URI {text!r}")
        return cls(
            scheme=scheme,
            host=host,
            user=user,
            port=port,
            params=parse_params(paramtext),
            password=password,
            headers=headers or None,
        )

    def __str__(self) -> str:
        if self.scheme not in ("sip", "sips"):
            return f"{self.scheme}:{self.user or ''}"
        out = self.scheme + ":"
        if self.user is not None:
            out += self.user + (f":{self.password}" if self.password else "") + "@"
        out += self.host + (f":{self.port}" if self.port is not None else "")
        out += format_params(self.params)
        if self.headers:
            out += "?" + self.headers
        return out


def _split_hostport(text: str, whole: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"unterminated IPv6 host in {whole!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise SipParseError(f"invalid host in {whole!r}")
        porttext = rest[1:] if rest else ""
    else:
        host, _, porttext = text.partition(":")
    if not host or any(c in host for c in ' \t<>"@'):
        raise SipParseError(f"invalid host in URI {whole!r}")
    if not porttext:
        return host, None
    if not porttext.isdigit() or not 0 < int(porttext) < 65536:
        raise SipParseError(f"invalid port in URI {whole!r}")
    return host, int(porttext)


@dataclass
class Address:
    """name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route (§20.10)."""

    uri: SipUri
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Address:
        text = text.strip()
        lt = _find_unquoted(text, "<")
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise SipParseError(f"unterminated <URI> in {text!r}")
            display = text[:lt].strip()
            return cls(
                uri=SipUri.parse(text[lt + 1 : gt]),
                display=unquote(display) if display else None,
                params=parse_params(text[gt + 1 :]),
            )
        # addr-spec: parameters after the URI belong to the header, not to the URI (§20.10).
        uritext, _, paramtext = text.partition(";")
        return cls(uri=SipUri.parse(uritext), params=parse_params(paramtext))

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        display = quote(self.display) + " " if self.display else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"


def _find_unquoted(text: str, ch: str) -> int:
    quoted = escaped = False
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and c == "\\":
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif c == ch and not quoted:
            return i
    return -1


# LWS may surround the slashes of the sent-protocol (§25.1, RFC 4475 §3.1.1.1).
_VIA = re.compile(r"\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9.!%*_+`'~-]+)\s+(\S.*)", re.IGNORECASE | re.DOTALL)


@dataclass
class Via:
    """One Via value: `SIP/2.0/UDP host:port;branch=z9hG4bK...;rport` (§20.42, RFC 3581)."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        match = _VIA.match(text)
        if not match:
            raise SipParseError(f"invalid Via {text!r}")
        sentby, _, paramtext = match.group(2).partition(";")
        host, port = _split_hostport(re.sub(r"\s*:\s*", ":", sentby.strip()), text)
        return cls(transport=match.group(1).upper(), host=host, port=port, params=parse_params(paramtext))

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"


class Headers:
    """Ordered header fields under canonical names; lookups are case-insensitive and compact-aware."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

    def __contains__(self, name: str) -> bool:
        key = canonical_name(name)
        return any(n == key for n, _ in self._items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first field's value; for list headers, the first element of it."""
        values = self.get_all(name)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value, in order, with comma-separated list headers split into elements."""
        key = canonical_name(name)
        out: list[str] = []
        for n, v in self._items:
            if n != key:
                continue
            if key in LIST_HEADERS:
                out.extend(p.strip() for p in split_top_level(v, ",") if p.strip())
            else:
                out.append(v)
        return out

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value))

    def prepend(self, name: str, value: str) -> None:
        self._items.insert(0, (canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every field of that name by one, kept at the first one's position."""
        key = canonical_name(name)
        for i, (n, _) in enumerate(self._items):
            if n == key:
                self._items[i] = (key, value)
                self._items = [it for j, it in enumerate(self._items) if j <= i or it[0] != key]
                return
        self._items.append((key, value))

    def remove(self, name: str) -> None:
        key = canonical_name(name)
        self._items = [it for it in self._items if it[0] != key]

    def copy(self) -> Headers:
        h = Headers()
        h._items = list(self._items)
        return h
