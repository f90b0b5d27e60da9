"""An httpx transport that connects only to addresses the URL-safety check approved (no DNS rebinding).

Before each request the sender pins the host to the addresses :func:`resolve_safe_target` checked;
the connection pool then dials one of those, never asking DNS again. The URL, the ``Host`` header,
TLS SNI and certificate verification all keep the host name, so HTTPS checks the real certificate.
A host with no pin cannot be reached at all.
"""

from __future__ import annotations

import ipaddress
import ssl
import typing
from collections.abc import AsyncIterator, Iterable

import httpcore
import httpx


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
        self._inner = httpcore.AnyIOBackend()
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
                return await self._inner.connect_tcp(
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
        await self._inner.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: typing.AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class PinnedTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive over a :class:`PinnedBackend`; certificates verified for the name."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *, max_connections: int = 100) -> None:
        self.backend = PinnedBackend()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or ssl.create_default_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=self.backend,
        )

    def pin(self, url: httpx.URL, addresses: Iterable[str]) -> None:
        """Allow connections for ``url``'s origin to ``addresses`` (and nowhere else)."""
        port = url.port or (443 if url.scheme == "https" else 80)
        self.backend.pin(url.raw_host.decode("ascii"), port, addresses)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
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
        try:
            response = await self._pool.handle_async_request(core_request)
        except httpcore.TimeoutException as exc:
            raise httpx.TimeoutException(str(exc) or "timed out", request=request) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.ConnectError) as exc:
            raise httpx.TransportError(str(exc) or type(exc).__name__, request=request) from exc
        assert isinstance(response.stream, typing.AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
