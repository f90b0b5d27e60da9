"""HTTP Digest authentication as SIP uses it (RFC 3261 §22, RFC 2617, RFC 7616): MD5 and SHA-256, qop=auth."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from outdial.sip.errors import SipParseError
from outdial.sip.headers import is_token, split_top_level, unquote

_HASHES = {"MD5": "md5", "SHA-256": "sha256", "MD5-SESS": "md5", "SHA-256-SESS": "sha256"}


@dataclass
class Challenge:
    """One WWW-Authenticate or Proxy-Authenticate value."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Challenge:
        scheme, _, rest = text.strip().partition(" ")
        if not is_token(scheme):
            raise SipParseError(f"invalid authentication challenge {text[:60]!r}")
        params: dict[str, str] = {}
        for item in split_top_level(rest, ","):
            if not item.strip():
                continue
            name, eq, value = item.strip().partition("=")
            if not eq or not is_token(name.strip()):
                raise SipParseError(f"invalid challenge parameter {item.strip()[:60]!r}")
            params[name.strip().lower()] = unquote(value.strip())
        return cls(scheme=scheme, params=params)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def algorithm(self) -> str:
        return self.params.get("algorithm", "MD5").upper()

    @property
    def qops(self) -> list[str]:
        return [q.strip().lower() for q in self.params.get("qop", "").split(",") if q.strip()]

    @property
    def supported(self) -> bool:
        """Whether we can answer it: Digest, a known algorithm, and qop absent or offering auth."""
        return (
            self.scheme.lower() == "digest"
            and self.algorithm in _HASHES
            and "nonce" in self.params
            and (not self.qops or "auth" in self.qops)
        )


def _h(algorithm: str, text: str) -> str:
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None,
    nc: str = "00000001",
    cnonce: str = "",
) -> str:
    """The `response` value (RFC 7616 §3.4.1); qop None is RFC 2069 compatibility mode."""
    algorithm = algorithm.upper()
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    if algorithm.endswith("-SESS"):
        ha1 = _h(algorithm, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


def authorization(
    challenge: Challenge, *, username: str, password: str, method: str, uri: str, cnonce: str | None = None
) -> str:
    """The Authorization / Proxy-Authorization value answering one challenge, with nc=00000001."""
    qop = "auth" if "auth" in challenge.qops else None
    cnonce = cnonce or secrets.token_hex(8)
    nonce = challenge.params["nonce"]
    response = digest_response(
        algorithm=challenge.algorithm,
        username=username,
        realm=challenge.realm,
        password=password,
        method=method,
        uri=uri,
        nonce=nonce,
        qop=qop,
        cnonce=cnonce,
    )
    parts = [
        f'username="{username}"',
        f'realm="{challenge.realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
        f'response="{response}"',
        f"algorithm={challenge.params.get('algorithm', 'MD5')}",
    ]
    if qop:
        parts += [f"qop={qop}", "nc=00000001", f'cnonce="{cnonce}"']
    if "opaque" in challenge.params:
        parts.append(f'opaque="{challenge.params["opaque"]}"')
    return "Digest " + ", ".join(parts)


def pick_challenge(values: list[str]) -> Challenge | None:
    """The strongest challenge we can answer among several (RFC 7616 §3.7: prefer SHA-256)."""
    usable = []
    for value in values:
        try:
            challenge = Challenge.parse(value)
        except SipParseError:
            continue
        if challenge.supported:
            usable.append(challenge)
    usable.sort(key=lambda c: not c.algorithm.startswith("SHA-256"))
    return usable[0] if usable else None


def verify(header: str, *, password: str, method: str) -> bool:
    """Check an Authorization value against a password (our UAS side and tests use it)."""
    creds = Challenge.parse(header)
    p = creds.params
    expected = digest_response(
        algorithm=p.get("algorithm", "MD5"),
        username=p.get("username", ""),
        realm=p.get("realm", ""),
        password=password,
        method=method,
        uri=p.get("uri", ""),
        nonce=p.get("nonce", ""),
        qop=p.get("qop"),
        nc=p.get("nc", "00000001"),
        cnonce=p.get("cnonce", ""),
    )
    return secrets.compare_digest(expected, p.get("response", ""))
