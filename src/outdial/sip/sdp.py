"""SDP (RFC 4566) and the offer/answer model (RFC 3264) for one audio stream; SDES crypto (RFC 4568).

We offer PCMU, PCMA and telephone-event at ptime 20; with media_encryption "srtp" or "srtp_required"
the offer is RTP/SAVP with one AES_CM_128_HMAC_SHA1_80 inline key. "srtp" still accepts a plain RTP/AVP
answer (trunks that ignore SDES); "srtp_required" fails the call when the answer is not encrypted.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Literal

from outdial.sip.errors import SipError

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
MediaEncryption = Literal["none", "srtp", "srtp_required"]
DIRECTIONS: tuple[Direction, ...] = ("sendrecv", "sendonly", "recvonly", "inactive")
SUITE = "AES_CM_128_HMAC_SHA1_80"
STATIC_CODECS = {0: "PCMU/8000", 8: "PCMA/8000"}
_REVERSE: dict[Direction, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


class SdpError(SipError):
    """An SDP body we cannot use, or an offer/answer that has no common ground."""


@dataclass
class Crypto:
    """An `a=crypto:` line (RFC 4568 §9.1) with its master key+salt decoded (30 bytes for our suite)."""

    tag: int
    suite: str
    key: bytes

    @classmethod
    def parse(cls, value: str) -> Crypto:
        parts = value.split()
        if len(parts) < 3 or not parts[0].isdigit() or not parts[2].startswith("inline:"):
            raise SdpError(f"invalid crypto attribute {value!r}")
        b64 = parts[2][len("inline:") :].split("|")[0]
        try:
            key = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise SdpError(f"invalid inline key in crypto attribute {value!r}") from None
        return cls(tag=int(parts[0]), suite=parts[1], key=key)

    def __str__(self) -> str:
        return f"{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"


@dataclass
class MediaDescription:
    media: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)

    def attr(self, name: str) -> list[str]:
        return [v or "" for k, v in self.attributes if k == name]

    @property
    def direction(self) -> Direction:
        for k, _ in reversed(self.attributes):
            if k in DIRECTIONS:
                return k
        return "sendrecv"

    def rtpmap(self) -> dict[int, str]:
        """Payload type → encoding/clock rate, static types included when not mapped explicitly."""
        out = {pt: name for pt, name in STATIC_CODECS.items() if str(pt) in self.formats}
        for value in self.attr("rtpmap"):
            pt, _, name = value.partition(" ")
            if pt.isdigit():
                out[int(pt)] = name.strip()
        return out

    @property
    def cryptos(self) -> list[Crypto]:
        return [Crypto.parse(v) for v in self.attr("crypto")]


@dataclass
class SessionDescription:
    origin: str = "- 0 0 IN IP4 127.0.0.1"
    name: str = "-"
    connection: str | None = None
    media: list[MediaDescription] = field(default_factory=list)

    @classmethod
    def parse(cls, body: bytes | str) -> SessionDescription:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        sd = cls()
        current: MediaDescription | None = None
        for raw in text.replace("\r\n", "\n").split("\n"):
            line = raw.strip()
            if not line:
                continue
            if len(line) < 2 or line[1] != "=":
                raise SdpError(f"invalid SDP line {line[:60]!r}")
            kind, value = line[0], line[2:]
            if kind == "o":
                sd.origin = value
            elif kind == "s":
                sd.name = value
            elif kind == "c":
                addr = _connection_address(value)
                if current is None:
                    sd.connection = addr
                else:
                    current.connection = addr
            elif kind == "m":
                parts = value.split()
                if len(parts) < 4 or not parts[1].split("/")[0].isdigit():
                    raise SdpError(f"invalid media line {line!r}")
                current = MediaDescription(parts[0], int(parts[1].split("/")[0]), parts[2], parts[3:])
                sd.media.append(current)
            elif kind == "a" and current is not None:
                name, colon, val = value.partition(":")
                current.attributes.append((name, val if colon else None))
        if not sd.media:
            raise SdpError("SDP has no media description")
        return sd

    def serialize(self) -> bytes:
        lines = ["v=0", f"o={self.origin}", f"s={self.name}"]
        if self.connection:
            lines.append(f"c=IN IP4 {self.connection}")
        lines.append("t=0 0")
        for m in self.media:
            lines.append(f"m={m.media} {m.port} {m.proto} {' '.join(m.formats)}")
            if m.connection and m.connection != self.connection:
                lines.append(f"c=IN IP4 {m.connection}")
            lines.extend(f"a={k}" if v is None else f"a={k}:{v}" for k, v in m.attributes)
        return ("\r\n".join(lines) + "\r\n").encode()

    def audio(self) -> MediaDescription:
        for m in self.media:
            if m.media == "audio" and m.port != 0:
                return m
        raise SdpError("SDP has no active audio stream")


def _connection_address(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN":
        raise SdpError(f"invalid connection line c={value}")
    return parts[2].split("/")[0]


@dataclass(frozen=True)
class Negotiated:
    """What the media layer needs once offer and answer agree."""

    remote_host: str
    remote_port: int
    payload_type: int
    dtmf_payload_type: int | None
    direction: Direction  # our direction
    srtp_tx_key: bytes | None = None
    srtp_rx_key: bytes | None = None

    @property
    def encrypted(self) -> bool:
        return self.srtp_tx_key is not None


@dataclass
class LocalMedia:
    """Our side of the stream: where we receive, what we offer, our SRTP key."""

    host: str
    port: int
    encryption: MediaEncryption = "none"
    srtp_key: bytes | None = None
    payload_types: tuple[int, ...] = (0, 8)
    dtmf_payload_type: int = 101
    session_id: int = 0
    version: int = 0


def _audio_description(
    local: LocalMedia, proto: str, pts: list[int], dtmf: int | None, direction: str, crypto_tag: int = 1
) -> MediaDescription:
    formats = [str(pt) for pt in pts] + ([str(dtmf)] if dtmf is not None else [])
    attrs: list[tuple[str, str | None]] = [("rtpmap", f"{pt} {STATIC_CODECS[pt]}") for pt in pts]
    if dtmf is not None:
        attrs += [("rtpmap", f"{dtmf} telephone-event/8000"), ("fmtp", f"{dtmf} 0-16")]
    attrs.append(("ptime", "20"))
    if proto == "RTP/SAVP":
        if local.srtp_key is None:
            raise SdpError("SRTP needs a local key")
        attrs.append(("crypto", str(Crypto(crypto_tag, SUITE, local.srtp_key))))
    attrs.append((direction, None))
    return MediaDescription("audio", local.port, proto, formats, local.host, attrs)


def _session(local: LocalMedia, m: MediaDescription) -> SessionDescription:
    origin = f"outdial {local.session_id} {local.version} IN IP4 {local.host}"
    return SessionDescription(origin=origin, name="outdial", connection=local.host, media=[m])


def build_offer(local: LocalMedia, direction: Direction = "sendrecv") -> SessionDescription:
    proto = "RTP/AVP" if local.encryption == "none" else "RTP/SAVP"
    m = _audio_description(local, proto, list(local.payload_types), local.dtmf_payload_type, direction)
    return _session(local, m)


def _remote_endpoint(sd: SessionDescription, m: MediaDescription) -> tuple[str, int]:
    host = m.connection or sd.connection
    if not host:
        raise SdpError("SDP has no connection address")
    return host, m.port


def _telephone_event(m: MediaDescription) -> int | None:
    for pt, name in m.rtpmap().items():
        if name.lower().startswith("telephone-event/8000"):
            return pt
    return None


def _first_common(m: MediaDescription, ours: tuple[int, ...]) -> int:
    """The peer's most preferred of our codecs, by their static numbers (0, 8) as the media layer uses."""
    names = m.rtpmap()
    for fmt in m.formats:
        if not fmt.isdigit() or int(fmt) not in ours:
            continue
        pt = int(fmt)
        if names.get(pt, STATIC_CODECS[pt]).upper().startswith(STATIC_CODECS[pt].split("/")[0] + "/8000"):
            return pt
    raise SdpError("no common audio codec (we support PCMU and PCMA)")


def process_answer(
    local: LocalMedia, answer: SessionDescription, offered: Direction = "sendrecv"
) -> Negotiated:
    """The offerer's view of an answer to our offer (RFC 3264 §6); raises SdpError when unusable."""
    m = answer.audio()
    host, port = _remote_endpoint(answer, m)
    pt = _first_common(m, local.payload_types)
    encrypted = m.proto.upper() == "RTP/SAVP"
    tx = rx = None
    if encrypted:
        if local.encryption == "none" or local.srtp_key is None:
            raise SdpError("answer uses RTP/SAVP but we offered plain RTP")
        crypto = _pick_crypto(m)
        tx, rx = local.srtp_key, crypto.key
    elif local.encryption == "srtp_required":
        raise SdpError("media encryption is required but the answer is plain RTP/AVP")
    direction = _intersect(offered, _REVERSE[m.direction])
    return Negotiated(host, port, pt, _telephone_event(m), direction, tx, rx)


def answer_offer(
    local: LocalMedia, offer: SessionDescription, want: Direction = "sendrecv"
) -> tuple[SessionDescription, Negotiated]:
    """The answerer's side (RFC 3264 §6): our answer and the negotiated stream; SdpError → 488."""
    m = offer.audio()
    host, port = _remote_endpoint(offer, m)
    pt = _first_common(m, local.payload_types)
    dtmf = _telephone_event(m)
    encrypted = m.proto.upper() == "RTP/SAVP"
    if not encrypted and local.encryption == "srtp_required":
        raise SdpError("media encryption is required but the offer is plain RTP/AVP")
    tx = rx = None
    tag = 1
    if encrypted:
        if local.srtp_key is None:
            raise SdpError("offer uses RTP/SAVP but no local SRTP key was given")
        theirs = _pick_crypto(m)
        tx, rx, tag = local.srtp_key, theirs.key, theirs.tag  # the answer echoes the chosen tag (§5.1.2)
    direction = _intersect(want, _REVERSE[m.direction])
    proto = "RTP/SAVP" if encrypted else "RTP/AVP"
    desc = _audio_description(local, proto, [pt], dtmf, direction, tag)
    return _session(local, desc), Negotiated(host, port, pt, dtmf, direction, tx, rx)


def _pick_crypto(m: MediaDescription) -> Crypto:
    for crypto in m.cryptos:
        if crypto.suite == SUITE and len(crypto.key) == 30:
            return crypto
    raise SdpError(f"no usable crypto attribute ({SUITE} with a 30-byte key)")


def _intersect(ours: Direction, allowed_by_peer: Direction) -> Direction:
    send = ours in ("sendrecv", "sendonly") and allowed_by_peer in ("sendrecv", "sendonly")
    recv = ours in ("sendrecv", "recvonly") and allowed_by_peer in ("sendrecv", "recvonly")
    return "sendrecv" if send and recv else "sendonly" if send else "recvonly" if recv else "inactive"
