"""Deliveries to real receivers on loopback: signed, retried with the same id, never redirected."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select
from standardwebhooks import Webhook

from outdial.lifecycle import CallStatus, EndReason, EventType
from outdial.store.db import Database
from outdial.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from outdial.webhooks.service import org_secret
from outdial.webhooks.signing import generate_secret
from tests.webhooks.conftest import Calls, SenderFactory, Tenant, eventually
from tests.webhooks.receiver import Received, Receiver, Reply

METADATA = {"crm_id": "123", "nested": {"list": [1, 2.5, None, "ü"], "flag": False}, "empty": {}}


async def add_endpoint(
    db: Database, org_id: str, url: str, events: list[str] | None = None
) -> WebhookEndpoint:
    async with db.transaction() as s:
        ep = WebhookEndpoint(
            org_id=org_id,
            url=url,
            events=events or [e.value for e in EventType],
            enabled=True,
            status="active",
            secret=generate_secret(),
        )
        s.add(ep)
    return ep


async def callback_secret(db: Database, org_id: str) -> str:
    async with db.transaction() as s:
        return (await org_secret(s, org_id)).secret


def verify(secret: str, req: Received) -> dict:
    """Check a request as a customer would, with the standardwebhooks package."""
    return Webhook(secret).verify(req.body, req.headers)


async def deliveries(db: Database) -> list[WebhookDelivery]:
    async with db.session() as s:
        return list((await s.execute(select(WebhookDelivery).order_by(WebhookDelivery.created_at))).scalars())


async def test_callback_url_gets_one_signed_call_ended_with_the_whole_call(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    async with Receiver() as rx:
        call_id = await calls.create(tenant.org_id, callback_url=rx.url, request_metadata=METADATA)
        await start_sender()
        await calls.complete(call_id, transcript_id="t-1", recording_path="recordings/x.wav")
        [req] = await rx.wait_for(1)
        await eventually(lambda: _delivered(calls, call_id))
        await asyncio.sleep(0.2)  # nothing else arrives: queued/ringing/answered are not for the callback
        assert rx.count == 1

    payload = verify(await callback_secret(db, tenant.org_id), req)
    assert payload["type"] == "call.ended"
    data = payload["data"]
    assert data["id"] == call_id
    assert data["status"] == "completed" and data["end_reason"] == "callee_hangup"
    assert data["metadata"] == METADATA and data["request_metadata"] == METADATA
    assert json.loads(req.body)["data"]["metadata"] == METADATA
    assert data["transcript_id"] == "t-1"
    assert data["recording_url"].startswith(f"https://outdial.test/v1/recordings/{call_id}?expires=")
    assert req.headers["webhook-id"].startswith("msg_")
    assert req.headers["content-type"] == "application/json"


async def _delivered(calls: Calls, call_id: str) -> bool:
    call = await calls.get(call_id)
    return bool(call and call.callback_delivered)


async def test_endpoint_receives_each_subscribed_event_once(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    async with Receiver() as rx:
        ep = await add_endpoint(db, tenant.org_id, rx.url)
        await start_sender()
        call_id = await calls.create(tenant.org_id)
        await calls.complete(call_id)
        got = await rx.wait_for(4)
    # Deliveries run concurrently, so arrival order is not guaranteed; the timestamps give it.
    payloads = sorted((verify(ep.secret, r) for r in got), key=lambda p: p["timestamp"])
    assert [p["type"] for p in payloads] == ["call.queued", "call.ringing", "call.answered", "call.ended"]
    assert [p["data"]["status"] for p in payloads] == ["queued", "ringing", "in_progress", "completed"]
    assert len({r.headers["webhook-id"] for r in got}) == 4


async def test_endpoint_gets_only_the_events_it_subscribed_to(
    db: Database, tenant: Tenant, other_tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    async with Receiver() as rx:
        await add_endpoint(db, tenant.org_id, rx.url, ["call.ended"])
        await start_sender()
        await calls.complete(await calls.create(other_tenant.org_id))  # another org's call
        call_id = await calls.create(tenant.org_id)
        await calls.complete(call_id)
        [req] = await rx.wait_for(1)
        await asyncio.sleep(0.2)
        assert rx.count == 1
    assert json.loads(req.body)["data"]["id"] == call_id


async def test_failing_receiver_gets_the_event_on_a_later_retry_with_the_same_id(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    def flaky(_req: Received, i: int) -> Reply:
        return Reply(503 if i < 3 else 200)

    async with Receiver(flaky) as rx:
        ep = await add_endpoint(db, tenant.org_id, rx.url, ["call.ended"])
        await start_sender()
        call_id = await calls.create(tenant.org_id, callback_url=None)
        await calls.complete(call_id)
        got = await rx.wait_for(4)
        await eventually(lambda: _status(db, "succeeded"))
    assert len({r.headers["webhook-id"] for r in got}) == 1
    for r in got:
        verify(ep.secret, r)
    [d] = await deliveries(db)
    assert d.attempt_count == 4 and d.last_status_code == 200 and d.delivered_at is not None
    async with db.session() as s:
        codes = list(
            (await s.execute(select(WebhookAttempt.status_code).order_by(WebhookAttempt.number))).scalars()
        )
    assert codes == [503, 503, 503, 200]


async def _status(db: Database, status: str) -> bool:
    return any(d.status == status for d in await deliveries(db))


async def test_410_disables_the_endpoint_and_stops_deliveries(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    async with Receiver(lambda _r, _i: Reply(410)) as rx:
        ep = await add_endpoint(db, tenant.org_id, rx.url, ["call.queued"])
        await start_sender()
        await calls.create(tenant.org_id)
        await rx.wait_for(1)
        await eventually(lambda: _status(db, "failed"))
        await calls.create(tenant.org_id)
        await asyncio.sleep(0.3)
        assert rx.count == 1
    async with db.session() as s:
        row = await s.get(WebhookEndpoint, ep.id)
        assert row is not None and row.status == "disabled" and not row.enabled
    [d] = await deliveries(db)
    assert d.status == "failed" and d.last_status_code == 410


async def test_redirects_are_not_followed(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    async with Receiver() as target:

        def redirect(_r: Received, _i: int) -> Reply:
            return Reply(302, {"location": target.url})

        async with Receiver(redirect) as rx:
            await add_endpoint(db, tenant.org_id, rx.url, ["call.queued"])
            await start_sender()
            await calls.create(tenant.org_id)
            await rx.wait_for(2)  # retried: a 3xx is a failure
            assert target.count == 0
    d = (await deliveries(db))[0]
    assert d.last_status_code == 302 and "redirect" in (d.last_error or "")


async def test_retry_after_is_honoured(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    def busy_once(_r: Received, i: int) -> Reply:
        return Reply(429, {"retry-after": "1"}) if i == 0 else Reply(200)

    async with Receiver(busy_once) as rx:
        await add_endpoint(db, tenant.org_id, rx.url, ["call.queued"])
        await start_sender()
        await calls.create(tenant.org_id)
        first, second = await rx.wait_for(2, within=5)
    # The schedule alone (scaled) would retry after 5 ms; the receiver asked for a second.
    assert second.at - first.at >= 0.95
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


async def test_callback_is_signed_with_the_rotated_and_the_new_secret(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    old = await callback_secret(db, tenant.org_id)
    from outdial.webhooks.service import rotate_org_secret

    async with db.transaction() as s:
        new = (await rotate_org_secret(s, tenant.org_id)).secret
    async with Receiver() as rx:
        await start_sender()
        call_id = await calls.create(tenant.org_id, callback_url=rx.url)
        await calls.move(call_id, CallStatus.CANCELED, end_reason=EndReason.CANCELED)
        [req] = await rx.wait_for(1)
    assert len(req.headers["webhook-signature"].split(" ")) == 2
    assert verify(old, req)["data"]["status"] == "canceled"
    assert verify(new, req)["data"]["end_reason"] == "canceled"


async def test_a_call_the_serializer_rejects_still_gets_its_event_delivered(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    from sqlalchemy import update

    from outdial.store.models import Call

    async with Receiver() as rx:
        ep = await add_endpoint(db, tenant.org_id, rx.url, ["call.queued"])
        call_id = await calls.create(tenant.org_id)
        async with db.transaction() as s:  # a row no schema accepts (a bug elsewhere, or old data)
            await s.execute(update(Call).where(Call.id == call_id).values(status="bogus"))
        good = await calls.create(tenant.org_id)
        await start_sender()
        got = await rx.wait_for(2)
    payloads = {verify(ep.secret, r)["data"]["id"]: verify(ep.secret, r) for r in got}
    assert payloads[call_id]["data"]["metadata"] == {"crm_id": "123"}
    assert payloads[call_id]["data"]["status"] == "queued"
    assert "to_number" in payloads[good]["data"]
