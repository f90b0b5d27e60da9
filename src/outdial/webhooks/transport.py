"""An httpx transport that connects only to addresses the URL-safety check approved (no DNS rebinding).

Before each request the sender pins the host to the addresses :func:`resolve_safe_target` checked;
the connection pool then dials one of those, never asking DNS again. The URL, the ``Host`` header,
TLS SNI and certificate verification all keep the host name, so HTTPS checks the real certificate.
A host with no pin cannot be reached at all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
import typing
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from outdial.webhooks.netstream import open_tcp

Origin = tuple[bytes, bytes, int | None]  # scheme, host, port


def host_key(host: str) -> str:
    """One spelling per host: IP literals normalized, names lower case without a trailing dot."""
    bare = host.strip("[]")
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return bare.lower().rstrip(".")


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Dials the pinned addresses of a host, in order, instead of resolving it."""

    def __init__(self) -> None:
        self._pins: dict[tuple[str, int], tuple[str, ...]] = {}

    def pin(self, host: str, port: int, addresses: Iterable[str]) -> None:
        self._pins[(host_key(host), port)] = tuple(addresses)

    def pinned(self, host: str, port: int) -> tuple[str, ...]:
        return self._pins.get((host_key(host), port), ())

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self.pinned(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"{host}:{port} was not checked; refusing to connect")
        last: Exception | None = None
        for address in addresses:
            try:
                return await open_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: typing.AsyncIterable[bytes], slot: asyncio.Semaphore) -> None:
        self._stream = stream
        self._slot: asyncio.Semaphore | None = slot

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        try:
            close = getattr(self._stream, "aclose", None)
            if close is not None:
                await close()
        finally:
            if self._slot is not None:
                self._slot.release()
                self._slot = None


@dataclass(slots=True)
class _OriginPool:
    pool: httpcore.AsyncConnectionPool
    slots: asyncio.Semaphore  # free connections; waiting here is cheaper than queueing in the pool
    last_used: float = 0.0


class PinnedTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive over a :class:`PinnedBackend`; certificates verified for the host name.

    One small connection pool per origin: a slow receiver cannot take every connection, and the pool's
    per-request bookkeeping (which scans its connections) stays proportional to one receiver's share.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        *,
        max_connections: int = 8,
        idle_pool_seconds: float = 300.0,
    ) -> None:
        self.backend = PinnedBackend()
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._max_connections = max_connections
        self._idle_pool_seconds = idle_pool_seconds
        self._pools: dict[Origin, _OriginPool] = {}
        self._last_sweep = time.monotonic()

    def pin(self, url: httpx.URL, addresses: Iterable[str]) -> None:
        """Allow connections for ``url``'s origin to ``addresses`` (and nowhere else)."""
        port = url.port or (443 if url.scheme == "https" else 80)
        self.backend.pin(url.raw_host.decode("ascii"), port, addresses)

    def _pool(self, url: httpx.URL) -> _OriginPool:
        key = (url.raw_scheme, url.raw_host, url.port)
        entry = self._pools.get(key)
        if entry is None:
            pool = httpcore.AsyncConnectionPool(
                ssl_context=self._ssl_context,
                max_connections=self._max_connections,
                max_keepalive_connections=self._max_connections,
                keepalive_expiry=30.0,
                network_backend=self.backend,
            )
            entry = self._pools[key] = _OriginPool(pool, asyncio.Semaphore(self._max_connections))
        entry.last_used = time.monotonic()
        return entry

    async def _sweep(self) -> None:
        """Close the pools of origins not used for a while (receivers come and go)."""
        now = time.monotonic()
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        for key, entry in list(self._pools.items()):
            if now - entry.last_used > self._idle_pool_seconds and not entry.pool.connections:
                del self._pools[key]
                await entry.pool.aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        await self._sweep()
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        entry = self._pool(request.url)
        pool, slot = entry.pool, entry.slots
        # Wait for a free connection here, not in the pool: the pool rescans every queued request
        # each time a connection frees up.
        await slot.acquire()
        try:
            response = await pool.handle_async_request(core_request)
        except httpcore.TimeoutException as exc:
            slot.release()
            raise httpx.TimeoutException(str(exc) or "timed out", request=request) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.ConnectError) as exc:
            slot.release()
            raise httpx.TransportError(str(exc) or type(exc).__name__, request=request) from exc
        except BaseException:
            slot.release()
            raise
        assert isinstance(response.stream, typing.AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, slot),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        pools, self._pools = self._pools, {}
        for entry in pools.values():
            await entry.pool.aclose()
