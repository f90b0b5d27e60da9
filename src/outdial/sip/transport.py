"""asyncio transports for SIP: UDP, TCP and TLS (RFC 3261 §18), the only place with sockets.

A Flow is the path one message came in on or goes out on. Responses go back on the request's flow,
which for UDP is the packet's source address and port: that is RFC 3581's rport behaviour. TCP and TLS
connections are kept in a pool keyed by the peer address, so a request the peer sends back to the
address it saw us at reuses the connection we opened.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import lru_cache
from typing import cast

from outdial.sip.errors import SipError, SipParseError
from outdial.sip.message import Request, Response, StreamFramer, parse_message

log = logging.getLogger(__name__)
Address = tuple[str, int]


class Flow(ABC):
    """Where to send, and the sent-by address the peer will see us at."""

    transport: str  # "UDP", "TCP" or "TLS" as written in Via
    remote: Address
    local: Address

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"

    @abstractmethod
    def send(self, data: bytes) -> None:
        """Queue bytes for the peer; raises SipError when the path is closed."""


WILDCARDS = frozenset({"0.0.0.0", "::", ""})


@lru_cache(maxsize=256)
def route_source(remote_host: str) -> str:
    """The local address the kernel would send from to reach remote_host (connecting UDP sends nothing).

    A socket bound to 0.0.0.0 must not put 0.0.0.0 in Via, Contact or SDP.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((remote_host, 9))
        except OSError:
            return "127.0.0.1"
        return str(s.getsockname()[0])


class UdpFlow(Flow):
    def __init__(self, endpoint: _UdpProtocol, remote: Address) -> None:
        self.transport = "UDP"
        self.endpoint = endpoint
        self.remote = remote
        host, port = endpoint.local
        self.local = (route_source(remote[0]) if host in WILDCARDS else host, port)

    def send(self, data: bytes) -> None:
        if self.endpoint.transport is None or self.endpoint.transport.is_closing():
            raise SipError("UDP socket is closed")
        self.endpoint.transport.sendto(data, self.remote)


class StreamFlow(Flow):
    def __init__(self, layer: TransportLayer, transport: str, writer: asyncio.StreamWriter) -> None:
        self.transport = transport
        self.writer = writer
        self.layer = layer
        peer = writer.get_extra_info("peername")
        sock = writer.get_extra_info("sockname")
        self.remote = (peer[0], peer[1])
        self.local = (sock[0], sock[1])
        self.tls_context: ssl.SSLContext | None = None  # what we connected with, to reconnect alike

    def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            raise SipError(f"{self.transport} connection to {self.remote[0]}:{self.remote[1]} is closed")
        self.writer.write(data)


Handler = Callable[[Request | Response, Flow], None]
UnreachableHandler = Callable[[Address, str], None]

# RFC 3261 §18.4: host, network, port or protocol unreachable and parameter problem ICMP errors mean
# the message was not delivered. Linux queues them on a UDP socket with IP_RECVERR (ip(7)); the
# queue entry names the destination the datagram was sent to.
_IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
_IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
_ORIGIN_ICMP, _ORIGIN_ICMP6 = 2, 3
_UNDELIVERED = {
    errno.ECONNREFUSED: "port unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ENOPROTOOPT: "protocol unreachable",
    errno.EPROTO: "parameter problem",
}
_EXTENDED_ERR = struct.Struct("=IBBBBII")  # struct sock_extended_err


def undelivered_reason(ancillary: list[tuple[int, int, bytes]]) -> str | None:
    """Why an error-queue entry says a datagram was not delivered, or None when it says something else."""
    for level, kind, data in ancillary:
        if (level, kind) not in ((socket.IPPROTO_IP, _IP_RECVERR), (socket.IPPROTO_IPV6, _IPV6_RECVERR)):
            continue
        if len(data) < _EXTENDED_ERR.size:
            continue
        err, origin, *_ = _EXTENDED_ERR.unpack_from(data)
        if origin in (_ORIGIN_ICMP, _ORIGIN_ICMP6) and err in _UNDELIVERED:
            return f"ICMP {_UNDELIVERED[err]}"
    return None


def _udp_socket(family: int, addr: tuple[object, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
    except OSError:  # not Linux: undelivered datagrams are found by timer B/F alone
        pass
    try:
        sock.bind(addr)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, layer: TransportLayer, sock: socket.socket) -> None:
        self.layer = layer
        self.sock = sock
        self.transport: asyncio.DatagramTransport | None = None
        self.local: Address = ("0.0.0.0", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("sockname")
        self.local = (sock[0], sock[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.strip(b"\r\n") == b"":
            return  # keep-alive
        try:
            msg = parse_message(data)
        except SipParseError as exc:
            log.debug("dropped unparsable datagram from %s: %s", addr, exc)
            return
        self.layer.deliver(msg, UdpFlow(self, (addr[0], addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)
        while True:  # the socket error came from the error queue (IP_RECVERR): read who it was for
            try:
                _, ancillary, _, dest = self.sock.recvmsg(1, 512, socket.MSG_ERRQUEUE)
            except OSError:
                return  # queue empty (or no such queue off Linux)
            reason = undelivered_reason(ancillary)
            if reason is not None and self.layer.on_unreachable is not None:
                self.layer.on_unreachable((dest[0], dest[1]), reason)


class TransportLayer:
    """Listens on UDP (always) and TCP/TLS (on request); opens and pools outgoing connections."""

    def __init__(
        self,
        handler: Handler,
        on_closed: Callable[[Flow], None] | None = None,
        on_unreachable: UnreachableHandler | None = None,
    ) -> None:
        self.handler = handler
        self.on_closed = on_closed  # told when a TCP/TLS connection ends, so its transactions fail now
        self.on_unreachable = on_unreachable  # told when ICMP says a UDP datagram was not delivered
        self.udp: _UdpProtocol | None = None
        self._servers: list[asyncio.Server] = []
        self._conns: dict[tuple[str, Address], StreamFlow] = {}
        self._connecting: dict[tuple[str, Address], asyncio.Future[StreamFlow]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.listening: dict[str, Address] = {}

    def deliver(self, msg: Request | Response, flow: Flow) -> None:
        try:
            self.handler(msg, flow)
        except Exception:  # one bad message must not stop the transport
            log.exception("error handling SIP message from %s", flow.remote)

    async def listen_udp(self, host: str, port: int) -> Address:
        loop = asyncio.get_running_loop()
        family, _, _, _, addr = (await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM))[0]
        sock = _udp_socket(family, addr)
        _, proto = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self, sock), sock=sock)
        self.udp = proto
        self.listening["UDP"] = proto.local
        return proto.local

    async def listen_stream(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> Address:
        name = "TLS" if tls else "TCP"

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            flow = StreamFlow(self, name, writer)
            self._conns[(name, flow.remote)] = flow
            await self._read(flow, reader)

        server = await asyncio.start_server(accept, host, port, ssl=tls)
        self._servers.append(server)
        sock = server.sockets[0].getsockname()
        self.listening[name] = (sock[0], sock[1])
        return self.listening[name]

    def udp_flow(self, remote: Address) -> UdpFlow:
        if self.udp is None:
            raise SipError("UDP transport is not listening")
        return UdpFlow(self.udp, remote)

    async def connect(
        self,
        transport: str,
        remote: Address,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> StreamFlow:
        """A pooled TCP/TLS connection to remote, opened if needed; SipError when unreachable."""
        key = (transport, remote)
        flow = self._conns.get(key)
        if flow is not None and not flow.writer.is_closing():
            return flow
        pending = self._connecting.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[StreamFlow] = asyncio.get_running_loop().create_future()
        self._connecting[key] = fut
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    remote[0], remote[1], ssl=tls, server_hostname=server_hostname if tls else None
                ),
                timeout=10.0,
            )
        except ssl.SSLError as exc:
            err = SipError(f"TLS handshake with {remote[0]}:{remote[1]} failed: {exc.reason or exc}")
            fut.set_exception(err)
            fut.exception()
            raise err from None
        except (OSError, TimeoutError) as exc:
            err = SipError(f"cannot connect over {transport} to {remote[0]}:{remote[1]}: {exc}")
            fut.set_exception(err)
            fut.exception()
            raise err from None
        finally:
            self._connecting.pop(key, None)
        flow = StreamFlow(self, transport, writer)
        flow.tls_context = tls
        self._conns[key] = flow
        fut.set_result(flow)
        task = asyncio.get_running_loop().create_task(self._read(flow, reader))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return flow

    async def _read(self, flow: StreamFlow, reader: asyncio.StreamReader) -> None:
        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                framer.feed(data)
                while (msg := framer.next_message()) is not None:
                    self.deliver(msg, flow)
        except SipParseError as exc:
            log.warning("closing %s connection from %s: %s", flow.transport, flow.remote, exc)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.debug("%s connection %s ended: %s", flow.transport, flow.remote, exc)
        finally:
            if self._conns.get((flow.transport, flow.remote)) is flow:
                del self._conns[(flow.transport, flow.remote)]
            flow.writer.close()
            if self.on_closed is not None:
                self.on_closed(flow)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for flow in list(self._conns.values()):
            flow.writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        if self.udp is not None and self.udp.transport is not None:
            self.udp.transport.close()
