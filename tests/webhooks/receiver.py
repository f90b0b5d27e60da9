"""A real webhook receiver on loopback: HTTP/1.1 with keep-alive, optionally TLS, scripted answers.

Tests (and the benchmark) point deliveries at it and read back exactly what arrived on the wire.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hang: bool = False  # never answer (a receiver stuck mid-request)


REASONS = {200: "OK", 204: "No Content", 302: "Found", 410: "Gone", 429: "Too Many Requests"}

Responder = Callable[[Received, int], Reply]  # (request, 0-based index of this request) -> reply


class Receiver:
    """``await Receiver().start()`` then ``url``; ``received`` lists every request in order."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        keep: bool = True,
    ) -> None:
        self.responder = responder or (lambda _r, _i: Reply())
        self.ssl_context = ssl_context
        self.host = host
        self.keep = keep  # benchmarks count without keeping bodies
        self.received: list[Received] = []
        self.count = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}/hook"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> Receiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_for(self, n: int, within: float = 10.0) -> list[Received]:
        """Wait until at least ``n`` requests arrived; the requests so far."""
        async with asyncio.timeout(within):
            while self.count < n:
                self._changed.clear()
                await self._changed.wait()
        return self.received

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                req = Received(method, path, headers, body)
                index = self.count
                self.count += 1
                if self.keep:
                    self.received.append(req)
                self._changed.set()
                reply = self.responder(req, index)
                if reply.hang:
                    await asyncio.Event().wait()
                reason = REASONS.get(reply.status, "Status")
                out = [f"HTTP/1.1 {reply.status} {reason}", f"content-length: {len(reply.body)}"]
                out += [f"{k}: {v}" for k, v in reply.headers.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + reply.body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
