"""Signed recording links: valid until they expire, bound to one call, keyed per deployment."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from outdial.config import Settings
from outdial.transcripts.links import recording_link, recording_url, signing_key, verify


def _parts(link: str) -> tuple[str, int, str]:
    url = urlsplit(link)
    q = parse_qs(url.query)
    return url.path.rsplit("/", 1)[1], int(q["expires"][0]), q["signature"][0]


def test_link_verifies_for_its_call_until_it_expires(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_url="https://od.example.com/")
    link = recording_link(settings, "call-1", ttl_seconds=60)
    assert link.startswith("https://od.example.com/v1/recordings/call-1?expires=")
    call_id, expires, sig = _parts(link)
    assert verify(settings, call_id, expires, sig)
    assert not verify(settings, "call-2", expires, sig)
    assert not verify(settings, call_id, expires + 1, sig)
    assert not verify(settings, call_id, expires, sig, now=time.time() + 61)


def test_default_lifetime_is_one_hour(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    call = SimpleNamespace(id="c", recording_path="rec/c.wav")
    link = recording_url(settings, call)
    assert link is not None
    _, expires, _ = _parts(link)
    assert 3590 <= expires - time.time() <= 3610


def test_no_recording_no_link(tmp_path: Path) -> None:
    call = SimpleNamespace(id="c", recording_path=None)
    assert recording_url(Settings(data_dir=tmp_path), call) is None


def test_generated_key_is_shared_through_the_data_dir(tmp_path: Path) -> None:
    key = signing_key(Settings(data_dir=tmp_path / "d"))
    assert len(key) >= 32
    assert (tmp_path / "d" / "signing_secret").read_text().strip().encode() == key
    assert signing_key(Settings(data_dir=tmp_path / "d")) == key


def test_configured_secret_wins(tmp_path: Path) -> None:
    a = Settings(data_dir=tmp_path, signing_secret="s3cret")
    b = Settings(data_dir=tmp_path / "other", signing_secret="s3cret")
    link = recording_link(a, "call-9")
    assert verify(b, *_parts(link))
