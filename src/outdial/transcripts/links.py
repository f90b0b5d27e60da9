"""Signed, expiring recording links: ``/v1/recordings/{call_id}?expires=...&signature=...``.

The link works without an API key, so it carries an HMAC-SHA256 over the call id and the expiry.
The key is ``OUTDIAL_SIGNING_SECRET`` when set (required when processes on several hosts hand out
links), else a random key generated once into ``data_dir/signing_secret`` (shared by every process
on the machine). Links last ``OUTDIAL_RECORDING_LINK_TTL_SECONDS`` (default one hour).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from outdial.config import Settings

SECRET_FILE = "signing_secret"
_cache: dict[Path, bytes] = {}


class LinkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTDIAL_", extra="ignore")

    recording_link_ttl_seconds: int = Field(default=3600, ge=1, description="Lifetime of a recording_url.")


class HasRecording(Protocol):
    id: str
    recording_path: str | None


def signing_key(settings: Settings) -> bytes:
    """The HMAC key for links: the configured secret, else the one generated into the data dir."""
    if settings.signing_secret:
        return settings.signing_secret.encode()
    path = (settings.data_dir / SECRET_FILE).resolve()
    key = _cache.get(path)
    if key is None:
        key = _load_or_create(path)
        _cache[path] = key
    return key


def _load_or_create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of several processes starting at once, exactly one writes; the others read its key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            text = path.read_text().strip()
            if text:
                return text.encode()
            time.sleep(0.01)  # the creator is between open and write
        raise RuntimeError(f"{path} is empty; delete it or set OUTDIAL_SIGNING_SECRET") from None
    secret = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret.encode()


def sign(settings: Settings, call_id: str, expires: int) -> str:
    message = f"recording.{call_id}.{expires}".encode()
    return hmac.new(signing_key(settings), message, hashlib.sha256).hexdigest()


def recording_link(
    settings: Settings, call_id: str, *, ttl_seconds: int | None = None, now: float | None = None
) -> str:
    """A link to ``call_id``'s recording that works without an API key until it expires."""
    ttl = ttl_seconds if ttl_seconds is not None else LinkSettings().recording_link_ttl_seconds
    expires = int(now if now is not None else time.time()) + ttl
    query = urlencode({"expires": expires, "signature": sign(settings, call_id, expires)})
    return f"{settings.base_url}/v1/recordings/{call_id}?{query}"


def recording_url(settings: Settings, call: HasRecording, *, ttl_seconds: int | None = None) -> str | None:
    """The call's ``recording_url`` (signed, expiring), or None when it has no recording."""
    if not call.recording_path:
        return None
    return recording_link(settings, call.id, ttl_seconds=ttl_seconds)


def verify(
    settings: Settings, call_id: str, expires: int, signature: str, *, now: float | None = None
) -> bool:
    """True when ``signature`` is ours for this call and ``expires`` is still in the future."""
    if expires < int(now if now is not None else time.time()):
        return False
    # Bytes, not str: compare_digest refuses a str with non-ASCII characters (a forged link may hold any).
    return hmac.compare_digest(
        sign(settings, call_id, expires).encode(), signature.encode("utf-8", "replace")
    )
