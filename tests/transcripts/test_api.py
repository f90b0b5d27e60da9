"""Transcripts, recordings (authenticated and by signed link) and retention purges, over the API."""

from __future__ import annotations

import wave
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import update

from outdial.config import Settings
from outdial.retention.service import purge_expired
from outdial.store.db import Database
from outdial.store.models import Call, Transcript
from outdial.store.types import utcnow
from outdial.transcripts.links import recording_link, recording_url
from outdial.webhooks.config import WebhookSettings
from tests.api.conftest import Tenant, expect_error
from tests.webhooks.conftest import Calls, SenderFactory, eventually

TURNS = [
    {
        "role": "agent",
        "text": "Hi, this is Acme.",
        "start_ms": 0,
        "end_ms": 1400,
        "interrupted": True,
        "latency": {"tts": 80.0},
    },
    {"role": "user", "text": "Yes, tomorrow works.", "start_ms": 1300, "end_ms": 2900, "interrupted": False},
]


def write_wav(path: Path, seconds: float = 0.2) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * int(8000 * seconds))
    return path.read_bytes()


async def ended_call(
    db: Database, calls: Calls, settings: Settings, org_id: str, *, ago: timedelta = timedelta(0)
) -> tuple[str, str, bytes]:
    """A completed call with a transcript and a recording, ended ``ago``."""
    call_id = await calls.create(org_id)
    await calls.complete(call_id)
    wav = write_wav(settings.data_dir / "recordings" / f"{call_id}.wav")
    async with db.transaction() as s:
        t = Transcript(org_id=org_id, call_id=call_id, turns=TURNS)
        s.add(t)
        await s.flush()
        ended = utcnow() - ago
        await s.execute(
            update(Call)
            .where(Call.id == call_id)
            .values(transcript_id=t.id, recording_path=f"recordings/{call_id}.wav", ended_at=ended)
        )
        return call_id, t.id, wav


async def test_transcript_by_call_and_by_id(
    client: httpx.AsyncClient, db: Database, calls: Calls, settings: Settings, tenant: Tenant
) -> None:
    call_id, transcript_id, _ = await ended_call(db, calls, settings, tenant.org_id)
    by_call = await client.get(f"/v1/calls/{call_id}/transcript", headers=tenant.headers)
    assert by_call.status_code == 200, by_call.text
    body = by_call.json()
    assert body["id"] == transcript_id and body["call_id"] == call_id
    assert [(t["role"], t["text"], t["start_ms"], t["end_ms"], t["interrupted"]) for t in body["turns"]] == [
        ("agent", "Hi, this is Acme.", 0, 1400, True),
        ("user", "Yes, tomorrow works.", 1300, 2900, False),
    ]
    by_id = await client.get(f"/v1/transcripts/{transcript_id}", headers=tenant.headers)
    assert by_id.json() == body


async def test_transcripts_of_other_orgs_and_missing_ones_are_404(
    client: httpx.AsyncClient,
    db: Database,
    calls: Calls,
    settings: Settings,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    call_id, transcript_id, _ = await ended_call(db, calls, settings, tenant.org_id)
    expect_error(
        await client.get(f"/v1/transcripts/{transcript_id}", headers=other_tenant.headers), 404, "not_found"
    )
    r = await client.get(f"/v1/calls/{call_id}/transcript", headers=other_tenant.headers)
    expect_error(r, 404, "not_found")
    fresh = await calls.create(tenant.org_id)
    expect_error(await client.get(f"/v1/calls/{fresh}/transcript", headers=tenant.headers), 404, "not_found")


async def test_recording_downloads_with_a_key_and_through_its_signed_link(
    client: httpx.AsyncClient,
    db: Database,
    calls: Calls,
    settings: Settings,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    call_id, _, wav = await ended_call(db, calls, settings, tenant.org_id)
    r = await client.get(f"/v1/calls/{call_id}/recording", headers=tenant.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav" and r.content == wav
    expect_error(
        await client.get(f"/v1/calls/{call_id}/recording", headers=other_tenant.headers), 404, "not_found"
    )

    call = await calls.get(call_id)
    assert call is not None
    link = recording_url(settings, call)
    assert link is not None and link.startswith(settings.base_url)
    path = link.removeprefix(settings.base_url)
    r = await client.get(path)  # no API key
    assert r.status_code == 200 and r.content == wav


async def test_tampered_expired_or_foreign_links_are_refused(
    client: httpx.AsyncClient, db: Database, calls: Calls, settings: Settings, tenant: Tenant
) -> None:
    call_id, _, _ = await ended_call(db, calls, settings, tenant.org_id)
    other_id, _, _ = await ended_call(db, calls, settings, tenant.org_id)
    good = recording_link(settings, call_id).removeprefix(settings.base_url)
    expect_error(await client.get(good[:-2] + "00"), 403, "forbidden")
    expect_error(await client.get(good.replace(call_id, other_id)), 403, "forbidden")
    expired = recording_link(settings, call_id, ttl_seconds=-1).removeprefix(settings.base_url)
    expect_error(await client.get(expired), 403, "forbidden")
    r = await client.get(f"/v1/recordings/{call_id}")
    expect_error(r, 400, "invalid_request")


async def test_retention_policy_reads_and_patches(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.get("/v1/organization/retention", headers=tenant.headers)
    assert r.json() == {
        "call_records_hours": None,
        "transcripts_hours": None,
        "recordings_hours": None,
        "updated_at": None,
    }
    r = await client.patch(
        "/v1/organization/retention", json={"recordings_hours": 720}, headers=tenant.headers
    )
    assert r.status_code == 200 and r.json()["recordings_hours"] == 720
    r = await client.patch(
        "/v1/organization/retention", json={"call_records_hours": 2}, headers=tenant.headers
    )
    body = (await client.get("/v1/organization/retention", headers=tenant.headers)).json()
    assert body["recordings_hours"] == 720 and body["call_records_hours"] == 2 and body["updated_at"]
    r = await client.patch("/v1/organization/retention", json={"recordings_hours": 0}, headers=tenant.headers)
    expect_error(r, 400, "invalid_request", "recordings_hours")


async def test_purged_recordings_and_transcripts_answer_404(
    client: httpx.AsyncClient, db: Database, calls: Calls, settings: Settings, tenant: Tenant
) -> None:
    old_id, old_t, _ = await ended_call(db, calls, settings, tenant.org_id, ago=timedelta(days=31))
    new_id, new_t, _ = await ended_call(db, calls, settings, tenant.org_id, ago=timedelta(hours=1))
    link = recording_link(settings, old_id).removeprefix(settings.base_url)
    await client.patch(
        "/v1/organization/retention",
        json={"recordings_hours": 720, "transcripts_hours": 24 * 7},
        headers=tenant.headers,
    )
    counts = await purge_expired(db, settings)
    assert counts.recordings == 1 and counts.transcripts == 1 and counts.calls == 0
    assert not (settings.data_dir / "recordings" / f"{old_id}.wav").exists()
    expect_error(await client.get(f"/v1/calls/{old_id}/recording", headers=tenant.headers), 404, "not_found")
    expect_error(await client.get(link), 404, "not_found")
    expect_error(await client.get(f"/v1/transcripts/{old_t}", headers=tenant.headers), 404, "not_found")
    expect_error(await client.get(f"/v1/calls/{old_id}/transcript", headers=tenant.headers), 404, "not_found")
    assert (await client.get(f"/v1/calls/{new_id}/recording", headers=tenant.headers)).status_code == 200
    assert (await client.get(f"/v1/transcripts/{new_t}", headers=tenant.headers)).status_code == 200
    call = await calls.get(old_id)
    assert call is not None and call.recording_path is None and call.transcript_id is None


async def test_status_kept_two_hours_purges_the_whole_call_record(
    client: httpx.AsyncClient, db: Database, calls: Calls, settings: Settings, tenant: Tenant
) -> None:
    old_id, old_t, _ = await ended_call(db, calls, settings, tenant.org_id, ago=timedelta(hours=3))
    new_id, _, _ = await ended_call(db, calls, settings, tenant.org_id, ago=timedelta(minutes=30))
    await client.patch("/v1/organization/retention", json={"call_records_hours": 2}, headers=tenant.headers)
    counts = await purge_expired(db, settings)
    assert counts.calls == 1
    assert await calls.get(old_id) is None and await calls.get(new_id) is not None
    expect_error(await client.get(f"/v1/calls/{old_id}/transcript", headers=tenant.headers), 404, "not_found")
    expect_error(await client.get(f"/v1/transcripts/{old_t}", headers=tenant.headers), 404, "not_found")
    assert not (settings.data_dir / "recordings" / f"{old_id}.wav").exists()
    r = await client.get(f"/v1/calls/{old_id}", headers=tenant.headers)
    assert r.status_code == 404


async def test_the_sender_runs_the_purge(
    client: httpx.AsyncClient,
    db: Database,
    calls: Calls,
    settings: Settings,
    tenant: Tenant,
    start_sender: SenderFactory,
    fast: WebhookSettings,
) -> None:
    old_id, _, _ = await ended_call(db, calls, settings, tenant.org_id, ago=timedelta(days=2))
    await client.patch("/v1/organization/retention", json={"recordings_hours": 24}, headers=tenant.headers)
    await start_sender(webhook_settings=fast.model_copy(update={"purge_interval_seconds": 0.05}))

    async def purged() -> bool:
        call = await calls.get(old_id)
        return call is not None and call.recording_path is None

    await eventually(purged)
