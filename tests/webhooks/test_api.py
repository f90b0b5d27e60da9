"""The webhook routes: endpoints with shown-once secrets and rotation, test sends, deliveries, retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from outdial.api.app import create_app
from outdial.config import Settings
from outdial.store.db import Database
from tests.api.conftest import Seed, expect_error
from tests.webhooks.conftest import Calls, SenderFactory, Tenant, eventually
from tests.webhooks.receiver import Receiver, Reply

EP = "/v1/webhook-endpoints"


async def create(client: httpx.AsyncClient, tenant: Tenant, **body: object) -> dict:
    body.setdefault("url", "https://hooks.example.com/outdial")
    r = await client.post(EP, json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_shows_the_secret_once_and_lists_without_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    made = await create(client, tenant, events=["call.ended", "call.ended"], description="CRM")
    assert made["secret"].startswith("whsec_")
    assert made["events"] == ["call.ended"] and made["enabled"] and made["status"] == "active"
    got = (await client.get(f"{EP}/{made['id']}", headers=tenant.headers)).json()
    assert "secret" not in got and got["description"] == "CRM"
    page = (await client.get(EP, headers=tenant.headers)).json()
    assert [e["id"] for e in page["data"]] == [made["id"]]
    assert page["pagination"]["total"] == 1 and "secret" not in page["data"][0]


async def test_default_subscription_is_every_event(client: httpx.AsyncClient, tenant: Tenant) -> None:
    made = await create(client, tenant)
    assert set(made["events"]) == {
        "call.queued",
        "call.ringing",
        "call.answered",
        "call.ended",
        "call.retry_scheduled",
        "call.analyzed",
        "transcript.updated",
    }


@pytest.fixture
async def strict_client(db: Database, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The API as deployed: OUTDIAL_ALLOW_PRIVATE_WEBHOOKS off."""
    app = create_app(Settings(data_dir=tmp_path / "strict", database_url=db.url), db, migrate=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://outdial.test") as c:
        yield c


async def test_unsafe_or_plain_http_urls_are_refused(
    strict_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    client = strict_client
    for url in [
        "http://hooks.example.com/",
        "https://127.0.0.1/",
        "https://[::ffff:10.0.0.1]/",
        "https://localhost/",
    ]:
        r = await client.post(EP, json={"url": url}, headers=tenant.headers)
        expect_error(r, 400, "invalid_callback_url", "url")


async def test_unknown_event_types_are_a_400(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.post(
        EP, json={"url": "https://a.example.com/", "events": ["call.exploded"]}, headers=tenant.headers
    )
    expect_error(r, 400, "invalid_request")


async def test_update_and_delete(strict_client: httpx.AsyncClient, tenant: Tenant) -> None:
    client = strict_client
    made = await create(client, tenant)
    r = await client.patch(
        f"{EP}/{made['id']}", json={"events": ["call.queued"], "enabled": False}, headers=tenant.headers
    )
    assert r.status_code == 200 and r.json()["events"] == ["call.queued"] and not r.json()["enabled"]
    r = await client.patch(f"{EP}/{made['id']}", json={"url": "https://10.1.2.3/"}, headers=tenant.headers)
    expect_error(r, 400, "invalid_callback_url", "url")
    assert (await client.delete(f"{EP}/{made['id']}", headers=tenant.headers)).status_code == 204
    expect_error(await client.get(f"{EP}/{made['id']}", headers=tenant.headers), 404, "not_found")


async def test_other_orgs_endpoints_are_invisible(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    made = await create(client, tenant)
    expect_error(await client.get(f"{EP}/{made['id']}", headers=other_tenant.headers), 404, "not_found")
    r = await client.post(f"{EP}/{made['id']}/rotate-secret", headers=other_tenant.headers)
    expect_error(r, 404, "not_found")
    assert (await client.get(EP, headers=other_tenant.headers)).json()["data"] == []


async def test_agent_scoped_keys_cannot_manage_webhooks(client: httpx.AsyncClient, seed: Seed) -> None:
    owner = await seed.tenant("acme")
    agent_id = await seed.agent(owner.org_id)
    scoped = await seed.tenant("acme", agent_id=agent_id)
    r = await client.post(EP, json={"url": "https://a.example.com/"}, headers=scoped.headers)
    expect_error(r, 403, "forbidden")


async def test_no_key_is_a_401(client: httpx.AsyncClient) -> None:
    expect_error(await client.get(EP), 401, "unauthorized")


async def test_test_message_is_signed_and_rotation_sends_both_signatures(
    client: httpx.AsyncClient, tenant: Tenant, start_sender: SenderFactory
) -> None:
    async with Receiver() as rx:
        made = await create(client, tenant, url=rx.url)
        await start_sender()
        r = await client.post(f"{EP}/{made['id']}/test", headers=tenant.headers)
        assert r.status_code == 202, r.text
        delivery = r.json()
        [first] = await rx.wait_for(1)
        payload = Webhook(made["secret"]).verify(first.body, first.headers)
        assert payload["type"] == "call.ended" and payload["data"]["test"] is True
        assert first.headers["webhook-id"] == delivery["message_id"]

        rotated = (await client.post(f"{EP}/{made['id']}/rotate-secret", headers=tenant.headers)).json()
        assert rotated["secret"] != made["secret"] and rotated["previous_secret_expires_at"]
        r = await client.post(
            f"{EP}/{made['id']}/test", json={"event_type": "call.queued"}, headers=tenant.headers
        )
        assert r.status_code == 202
        _, second = await rx.wait_for(2)
    assert len(second.headers["webhook-signature"].split()) == 2
    assert Webhook(made["secret"]).verify(second.body, second.headers)["type"] == "call.queued"
    assert Webhook(rotated["secret"]).verify(second.body, second.headers)["type"] == "call.queued"


async def test_deliveries_are_listed_filtered_and_retried_with_the_same_id(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, calls: Calls, start_sender: SenderFactory
) -> None:
    answers = [Reply(410)]

    async with Receiver(lambda _r, i: answers[i] if i < len(answers) else Reply(200)) as rx:
        made = await create(client, tenant, url=rx.url, events=["call.queued"])
        await start_sender()
        call_id = await calls.create(tenant.org_id)
        [gone] = await rx.wait_for(1)

        async def failed() -> bool:
            r = await client.get(
                "/v1/webhook-deliveries", params={"status": "failed"}, headers=tenant.headers
            )
            return r.json()["pagination"]["total"] == 1

        await eventually(failed)
        ep = (await client.get(f"{EP}/{made['id']}", headers=tenant.headers)).json()
        assert ep["status"] == "disabled" and not ep["enabled"] and "410" in ep["disabled_reason"]

        listed = await client.get(
            "/v1/webhook-deliveries",
            params={"endpoint_id": made["id"], "call_id": call_id, "event_type": "call.queued"},
            headers=tenant.headers,
        )
        [d] = listed.json()["data"]
        assert d["status"] == "failed" and d["last_status_code"] == 410 and d["target"] == "endpoint"
        none = await client.get(
            "/v1/webhook-deliveries", params={"event_type": "call.ended"}, headers=tenant.headers
        )
        assert none.json()["data"] == []

        # Retrying needs the endpoint back on; then the same webhook-id arrives again.
        r = await client.post(f"/v1/webhook-deliveries/{d['id']}/retry", headers=tenant.headers)
        expect_error(r, 409, "endpoint_disabled")
        await client.patch(f"{EP}/{made['id']}", json={"enabled": True}, headers=tenant.headers)
        r = await client.post(f"/v1/webhook-deliveries/{d['id']}/retry", headers=tenant.headers)
        assert r.status_code == 202, r.text
        _, again = await rx.wait_for(2)
        assert again.headers["webhook-id"] == gone.headers["webhook-id"]

        async def succeeded() -> bool:
            r = await client.get(f"/v1/webhook-deliveries/{d['id']}", headers=tenant.headers)
            return r.json()["status"] == "succeeded"

        await eventually(succeeded)
    detail = (await client.get(f"/v1/webhook-deliveries/{d['id']}", headers=tenant.headers)).json()
    assert [a["status_code"] for a in detail["attempts"]] == [410, 200]
    assert detail["payload"]["data"]["id"] == call_id


async def test_org_callback_secret_is_retrievable_and_rotates(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = (await client.get("/v1/organization/webhook-secret", headers=tenant.headers)).json()
    assert first["secret"].startswith("whsec_") and first["previous_secret_expires_at"] is None
    again = (await client.get("/v1/organization/webhook-secret", headers=tenant.headers)).json()
    assert again["secret"] == first["secret"]
    rotated = (await client.post("/v1/organization/webhook-secret/rotate", headers=tenant.headers)).json()
    assert rotated["secret"] != first["secret"] and rotated["previous_secret_expires_at"]
