"""SIP requests and responses: parse from bytes, serialize to bytes, frame on streams (RFC 3261 §7, §18.3)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from outdial.sip.errors import SipParseError
from outdial.sip.headers import Address, Headers, Via, canonical_name, is_token

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9][0-9]) ?(.*)", re.IGNORECASE)
_REQUEST_LINE = re.compile(r"([^ ]+) ([^ ]+) SIP/2\.0", re.IGNORECASE)
# Headers without which no transaction or dialog can be identified (§8.1.1).
REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq")


@dataclass
class _Message:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.headers.get("CSeq") or "")

    @property
    def via(self) -> Via:
        return Via.parse(self.headers.get("Via") or "")

    @property
    def from_(self) -> Address:
        return Address.parse(self.headers.get("From") or "")

    @property
    def to(self) -> Address:
        return Address.parse(self.headers.get("To") or "")

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def _head_and_body(self, start: str) -> bytes:
        lines = [start]
        for name, value in self.headers:
            if name != "Content-Length":
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class Request(_Message):
    method: str = "OPTIONS"
    uri: str = ""

    def serialize(self) -> bytes:
        return self._head_and_body(f"{self.method} {self.uri} SIP/2.0")

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass
class Response(_Message):
    status: int = 200
    reason: str = "OK"

    def serialize(self) -> bytes:
        return self._head_and_body(f"SIP/2.0 {self.status} {self.reason}")

    def __bytes__(self) -> bytes:
        return self.serialize()


Message = Request | Response


def parse_cseq(value: str) -> tuple[int, str]:
    num, _, method = value.strip().partition(" ")
    method = method.strip()
    if not num.isdigit() or len(num) > 10 or not is_token(method):
        raise SipParseError(f"invalid CSeq {value!r}")
    return int(num), method


def _unfold(head: str) -> list[str]:
    """Header lines with continuation lines (leading SP/HT, §7.3.1) joined to the line before."""
    lines: list[str] = []
    for line in re.split(r"\r?\n", head):
        if line[:1] in (" ", "\t"):
            if not lines:
                raise SipParseError("message starts with a continuation line")
            lines[-1] = lines[-1].rstrip() + " " + line.strip()
        else:
            lines.append(line)
    return lines


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = data.find(sep)
        if idx >= 0:
            return data[:idx], data[idx + len(sep) :]
    # A datagram may end right after the last header with a single CRLF and no body.
    return data.rstrip(b"\r\n"), b""


def parse_message(data: bytes, *, stream: bool = False) -> Request | Response:
    """Parse one whole message; raises SipParseError saying what is wrong.

    On a datagram a missing Content-Length means "the rest of the packet"; on a stream it must be there.
    """
    if not isinstance(data, bytes | bytearray):
        raise SipParseError("a SIP message must be bytes")
    data = bytes(data).lstrip(b"\r\n")  # keep-alive CRLFs may precede a message (RFC 5626)
    if not data:
        raise SipParseError("empty message")
    head_bytes, body = _split_head(data)
    if len(head_bytes) > MAX_HEAD:
        raise SipParseError("header section too large")
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"header section is not UTF-8 (byte {exc.start})") from None
    if "\x00" in head:
        raise SipParseError("NUL byte in header section")
    lines = _unfold(head)
    start = lines[0].strip()
    headers = Headers()
    for line in lines[1:]:
        if not line.strip():
            raise SipParseError("empty line inside header section")
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"header line without a colon: {line[:60]!r}")
        headers.add(canonical_name(name.strip()), value.strip())
    msg: Request | Response
    status = _STATUS_LINE.fullmatch(start)
    if status:
        msg = Response(headers=headers, status=int(status.group(1)), reason=status.group(2))
    else:
        req = _REQUEST_LINE.fullmatch(start)
        if not req or not is_token(req.group(1)):
            raise SipParseError(f"invalid start line {start[:80]!r}")
        if ":" not in req.group(2):
            raise SipParseError(f"invalid Request-URI {req.group(2)[:80]!r}")
        msg = Request(headers=headers, method=req.group(1).upper(), uri=req.group(2))
    msg.body = _checked_body(headers, body, stream)
    _validate(msg)
    return msg


def _checked_body(headers: Headers, body: bytes, stream: bool) -> bytes:
    lengths = headers.get_all("Content-Length")
    if not lengths:
        if stream:
            raise SipParseError("Content-Length is required on stream transports")
        return body
    if len(set(lengths)) > 1 or not lengths[0].isdigit() or len(lengths[0]) > 9:
        raise SipParseError(f"invalid Content-Length {lengths[0]!r}")
    length = int(lengths[0])
    if length > MAX_BODY:
        raise SipParseError("body too large")
    if length > len(body):
        raise SipParseError(f"body shorter ({len(body)} bytes) than Content-Length {length}")
    return body[:length]


def _validate(msg: Request | Response) -> None:
    for name in REQUIRED:
        if name not in msg.headers:
            raise SipParseError(f"missing required header {name}")
    _, method = msg.cseq
    if isinstance(msg, Request) and method.upper() != msg.method:
        raise SipParseError(f"CSeq method {method} does not match request method {msg.method}")
    vias = msg.headers.get_all("Via")
    if not vias:
        raise SipParseError("empty Via header")
    for raw in vias:
        Via.parse(raw)
    msg.from_  # noqa: B018 - parsing is the check
    msg.to  # noqa: B018


class StreamFramer:
    """Cuts a TCP/TLS byte stream into messages by Content-Length (§18.3).

    feed() bytes as they arrive; next_message() returns a parsed message or None until one is complete.
    A malformed message raises SipParseError: the stream cannot be resynchronised and must be closed.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_message(self) -> Request | Response | None:
        while self._buf[:2] == b"\r\n":  # keep-alive pings between messages
            del self._buf[:2]
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEAD:
                raise SipParseError("header section too large")
            return None
        head = bytes(self._buf[:end])
        match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d{1,9})[ \t]*$", head)
        if not match:
            raise SipParseError("Content-Length is required on stream transports")
        if int(match.group(1)) > MAX_BODY:
            raise SipParseError("body too large")  # refuse before buffering it
        total = end + 4 + int(match.group(1))
        if len(self._buf) < total:
            return None
        data = bytes(self._buf[:total])
        del self._buf[:total]
        return parse_message(data, stream=True)


REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
}


def reason_phrase(status: int) -> str:
    return REASON_PHRASES.get(status, "Unknown")
