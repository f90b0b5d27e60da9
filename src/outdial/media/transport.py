"""The UDP side of a media stream: an even/odd RTP/RTCP port pair and a datagram protocol per port."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)


class DatagramHandler(asyncio.DatagramProtocol):
    __slots__ = ("_on_datagram",)

    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that is gone or not yet listening: RTP carries on.
        log.debug("media socket error: %s", exc)


def bind_port_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """UDP sockets on an even port and the next one; port 0 lets the kernel pick."""
    for _ in range(100 if port == 0 else 1):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtp.bind((host, port))
            chosen = rtp.getsockname()[1]
            if port == 0 and chosen % 2:
                rtp.close()
                continue
            rtcp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                rtcp_sock.bind((host, chosen + 1))
            except OSError:
                rtcp_sock.close()
                rtp.close()
                if port:
                    raise
                continue
        except BaseException:
            rtp.close()
            raise
        rtp.setblocking(False)
        rtcp_sock.setblocking(False)
        return rtp, rtcp_sock
    raise OSError(f"no free RTP/RTCP port pair on {host}")
