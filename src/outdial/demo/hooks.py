"""The demo's webhook receiver: a loopback HTTP endpoint that checks each delivery's Standard Webhooks
signature with the endpoint's secret (using the ``standardwebhooks`` library, not our own signer)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

MAX_BODY = 1_000_000


@dataclass(frozen=True, slots=True)
class Delivery:
    type: str
    verified: bool


class WebhookInbox:
    """``async with WebhookInbox() as inbox``: give ``inbox.url`` to ``POST /v1/webhook-endpoints``, then
    set ``inbox.secret`` from its answer; ``deliveries`` lists what arrived, in order."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.deliveries: list[Delivery] = []
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Event()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/outdial-webhooks"

    async def start(self) -> WebhookInbox:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aenter__(self) -> WebhookInbox:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def wait_for(self, event_type: str, within: float) -> bool:
        """True once a delivery of ``event_type`` has arrived (False after ``within`` seconds)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while not any(d.type == event_type for d in self.deliveries):
                    self._arrived.clear()
                    await self._arrived.wait()
        return any(d.type == event_type for d in self.deliveries)

    def _accept(self, headers: dict[str, str], body: bytes) -> None:
        verified = False
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
        try:
            event_type = str(json.loads(body)["type"])
        except (ValueError, KeyError, TypeError):
            event_type = "?"
        self.deliveries.append(Delivery(event_type, verified))
        self._arrived.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # HTTP/1.1 keep-alive: one request after another on this connection
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if length > MAX_BODY:
                    writer.write(
                        b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    )
                    await writer.drain()
                    return
                self._accept(headers, await reader.readexactly(length))
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
