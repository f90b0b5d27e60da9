"""HTTPS receivers with a test CA, connections pinned to the checked address, rebinding refused."""

from __future__ import annotations

import json
import ssl

import httpx
import pytest
import trustme
from standardwebhooks import Webhook

from outdial.config import Settings
from outdial.store.db import Database
from outdial.webhooks.transport import PinnedTransport
from tests.webhooks.conftest import Calls, SenderFactory, Tenant, eventually
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import add_endpoint, deliveries

HOST = "hooks.customer.test"  # resolvable only through the injected resolver


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, name: str, seen_sni: list[str | None]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(ctx)

    def remember(_sock: object, server_name: str | None, _ctx: object) -> None:
        seen_sni.append(server_name)

    ctx.sni_callback = remember  # type: ignore[assignment]
    return ctx


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


class Dns:
    """A resolver under the test's control; ``answers`` may change between lookups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]


async def test_https_delivery_verifies_the_certificate_for_the_name_and_connects_to_the_checked_ip(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory, ca: trustme.CA
) -> None:
    sni: list[str | None] = []
    async with Receiver(ssl_context=server_context(ca, HOST, sni)) as rx:
        url = f"https://{HOST}:{rx.port}/hook"
        ep = await add_endpoint(db, tenant.org_id, url, ["call.queued"])
        dns = Dns(["127.0.0.1"])
        await start_sender(resolver=dns, ssl_context=client_context(ca))
        call_id = await calls.create(tenant.org_id)
        [req] = await rx.wait_for(1)
    assert Webhook(ep.secret).verify(req.body, req.headers)["data"]["id"] == call_id
    assert req.headers["host"] == f"{HOST}:{rx.port}"
    assert sni == [HOST]
    assert dns.lookups == [HOST]


async def test_a_certificate_for_another_name_is_refused(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory, ca: trustme.CA
) -> None:
    async with Receiver(ssl_context=server_context(ca, "someone-else.test", [])) as rx:
        await add_endpoint(db, tenant.org_id, f"https://{HOST}:{rx.port}/hook", ["call.queued"])
        await start_sender(resolver=Dns(["127.0.0.1"]), ssl_context=client_context(ca))
        await calls.create(tenant.org_id)

        async def attempted() -> bool:
            return any(d.attempt_count for d in await deliveries(db))

        await eventually(attempted)
        assert rx.count == 0
    [d] = await deliveries(db)
    assert d.status in ("pending", "delivering")  # retried on the schedule
    assert "certificate" in (d.last_error or "").lower()


async def test_an_untrusted_ca_is_refused(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory, ca: trustme.CA
) -> None:
    async with Receiver(ssl_context=server_context(ca, HOST, [])) as rx:
        await add_endpoint(db, tenant.org_id, f"https://{HOST}:{rx.port}/hook", ["call.queued"])
        await start_sender(resolver=Dns(["127.0.0.1"]))  # the system's CAs only
        await calls.create(tenant.org_id)

        async def attempted() -> bool:
            return any(d.attempt_count for d in await deliveries(db))

        await eventually(attempted)
        assert rx.count == 0


async def test_a_name_resolving_to_loopback_is_refused_at_delivery_time(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory, settings: Settings
) -> None:
    strict = settings.model_copy(update={"allow_private_webhooks": False})
    async with Receiver() as rx:
        # Stored directly: the API's static check cannot know what the name resolves to later.
        await add_endpoint(db, tenant.org_id, f"https://rebind.customer.test:{rx.port}/hook", ["call.queued"])
        await start_sender(settings=strict, resolver=Dns(["127.0.0.1"]))
        await calls.create(tenant.org_id)

        async def attempted() -> bool:
            return any(d.attempt_count for d in await deliveries(db))

        await eventually(attempted)
        assert rx.count == 0
    [d] = await deliveries(db)
    assert "unsafe URL" in (d.last_error or "") and "loopback" in (d.last_error or "")


async def test_rebinding_between_deliveries_is_caught_by_the_check_before_each_one(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    # Development mode allows loopback but never cloud metadata: the second lookup rebinds there.
    dns = Dns(["127.0.0.1"], ["169.254.169.254"])
    async with Receiver() as rx:
        await add_endpoint(db, tenant.org_id, f"http://{HOST}:{rx.port}/hook", ["call.queued"])
        await start_sender(resolver=dns)
        first = await calls.create(tenant.org_id)
        [req] = await rx.wait_for(1)
        await eventually(lambda: _succeeded(db, 1))
        await calls.create(tenant.org_id)

        async def refused() -> bool:
            return any("metadata" in (d.last_error or "") for d in await deliveries(db))

        await eventually(refused)
        assert rx.count == 1
    assert json.loads(req.body)["data"]["id"] == first
    assert len(dns.lookups) >= 2


async def _succeeded(db: Database, n: int) -> bool:
    return sum(d.status == "succeeded" for d in await deliveries(db)) >= n


async def test_pinned_transport_dials_the_pinned_address_and_nothing_else() -> None:
    async with Receiver() as rx:
        transport = PinnedTransport()
        async with httpx.AsyncClient(transport=transport) as client:
            url = httpx.URL(f"http://name-nobody-can-resolve.invalid:{rx.port}/hook")
            with pytest.raises(httpx.TransportError, match="not checked"):
                await client.post(url, content=b"{}")
            transport.pin(url, ["127.0.0.1"])
            r = await client.post(url, content=b"{}")
    assert r.status_code == 200
    assert rx.received[0].headers["host"] == f"name-nobody-can-resolve.invalid:{rx.port}"
