"""``MediaStream``: one call's audio over RTP/RTCP (optionally SRTP), driven by the shared media clock.

The asyncio shell around the sans-I/O pieces: a UDP port pair (RTP even, RTCP = RTP + 1), the
outgoing PCM queue, the jitter buffer, G.711, resampling, DTMF and RTCP reports. All per-frame work
happens at the stream's tick, every 20 ms, driven by the ``MediaClock`` for a whole clock slot at once
(``outdial.media.batch``): the slot's audio is resampled and encoded as one block, each stream sends
its packet (``_on_tick``), then the slot's RTP sockets are read (packets parsed and filed in the
jitter buffer, DTMF digits reported as their first packet is read) and the received audio is decoded
and resampled as one block for the audio handlers. RTCP arrives through the event loop.

Outgoing audio: 16-bit LE mono PCM at ``sample_rate``, queued with ``write``. When the queue is
empty the stream keeps sending comfort silence (G.711 silence) every 20 ms, as trunks and their
NAT bindings expect a continuous stream from an answered call. The sent handler sees only the
written audio as it goes out (not that silence, nor frames replaced by DTMF events).

Incoming audio: while receiving, the audio handler gets exactly one frame per tick — the decoded
frame, a concealment frame for a loss, or silence when the peer sends nothing (before its first
packet, on hold) — so whatever listens (VAD, silence timeouts) runs on a steady 20 ms cadence.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import secrets
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from outdial.media import batch, g711, rtcp
from outdial.media.clock import MediaClock, default_clock
from outdial.media.dtmf import DtmfReceiver, EventPacket, digit_to_event, digits_schedule
from outdial.media.jitterbuffer import JitterBuffer
from outdial.media.resample import DOWN_HISTORY, UP_HISTORY, FrameResampler
from outdial.media.rtp import RtpError, RtpPacket
from outdial.media.srtp import SrtpContext, SrtpError, SrtpKeys
from outdial.media.transport import DatagramHandler, bind_port_pair

log = logging.getLogger(__name__)

_FIXED_AFTER_FIRST = struct.Struct("!BHII")  # the RTP fixed header after its first octet
_HEADER = struct.Struct("!BBHII")

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
AudioHandler = Callable[[bytes], None]
DtmfHandler = Callable[[str], None]
SpeechHandler = Callable[[float], None]
_DtmfJob = tuple[Iterator[tuple[EventPacket | None, bool]], "asyncio.Future[None]"]
# What a tick sends: payload type, marker and timestamp (None: the stream's own, for audio), payload,
# and the written PCM frame it carries (None for comfort silence and DTMF events).
_Send = tuple[int, bool | None, int | None, bytes, bytes | None]

G711_RATE = 8000
FRAME_MS = 20
SAMPLES_PER_FRAME = G711_RATE * FRAME_MS // 1000  # 160: the RTP timestamp step of one frame
RTCP_INTERVAL_TICKS = 250  # 5 s (RFC 3550 §6.2's minimum interval)
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


def _ipv4(host: str) -> str:
    """An IPv4 literal for ``host``. sendto with a name would resolve it for every packet, so a name
    (legal in an SDP c= line, rare from trunks) is resolved once here, blocking the loop briefly."""
    try:
        ipaddress.IPv4Address(host)
        return host
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        raise MediaError(f"remote media host {host!r} does not resolve to an IPv4 address: {exc}") from None
    log.warning("remote media host %r given as a name; resolved to %s", host, infos[0][4][0])
    return str(infos[0][4][0])


class MediaError(RuntimeError):
    """A media stream used in a way it cannot serve (closed, not configured, no DTMF payload type)."""


@dataclass(frozen=True, slots=True)
class StreamStats:
    packets_sent: int
    bytes_sent: int  # RTP payload octets, as an RTCP sender report counts them
    packets_received: int  # audio packets accepted from the current source
    bytes_received: int
    packets_lost: int  # expected − received (RFC 3550 A.3), current source
    jitter_ms: float  # interarrival jitter estimate (RFC 3550 A.8)
    late: int  # arrived after their playout slot
    duplicates: int
    overflow: int  # dropped because the jitter buffer was full
    concealed: int  # frames played out as a repeat or silence because nothing arrived in time
    dtmf_sent: int  # digits
    dtmf_received: int
    srtp_errors: int  # RTP packets failing SRTP authentication or replay checks
    srtcp_errors: int  # RTCP packets failing SRTCP's (some peers send a last RTCP BYE in the clear)
    malformed: int  # datagrams that are not RTP/RTCP
    rtcp_sent: int
    rtcp_received: int
    remote_fraction_lost: float | None  # from the peer's last report about us, 0..1
    remote_jitter_ms: float | None
    round_trip_ms: float | None


class MediaStream:
    """One call's bidirectional audio. Open with ``await MediaStream.open(...)``, then ``configure``."""

    def __init__(self, sample_rate: int, clock: MediaClock) -> None:
        if sample_rate < G711_RATE or sample_rate % 50:
            raise ValueError(f"sample_rate {sample_rate} Hz: use 8000 or more, a multiple of 50")
        self.sample_rate = sample_rate
        self._clock = clock
        self._frame_bytes = sample_rate * FRAME_MS // 1000 * 2
        self._silence_pcm = bytes(self._frame_bytes)
        # The RTP socket is not watched by the event loop: the clock reads it at the stream's tick
        # (outdial.media.batch.receive) and sends on it directly. RTCP goes through the loop.
        self._rtp_sock: socket.socket | None = None
        self._rx_kernel_time = False  # datagrams carry their kernel arrival time (SO_TIMESTAMPNS)
        self._rtcp_transport: asyncio.DatagramTransport | None = None
        self.local_host = ""
        self.local_port = 0
        self._closed = False
        self._registered = False
        # Negotiated parameters (configure)
        self._remote: tuple[str, int] | None = None
        self._remote_rtcp: tuple[str, int] | None = None
        self._payload_type = g711.PCMU
        self._dtmf_payload_type: int | None = None
        self._srtp: SrtpContext | None = None
        self._srtp_keys: SrtpKeys | None = None
        self._direction: Direction = "sendrecv"
        self._sending = True
        self._receiving = True
        # Send side
        self.ssrc = secrets.randbits(32)
        self.cname = f"outdial-{secrets.token_hex(4)}"
        self._seq = secrets.randbits(16)
        self._timestamp = secrets.randbits(32)
        self._marker = True
        self._out = bytearray()
        self._talking = False
        self._silence_payload = bytes([g711.ULAW_SILENCE]) * SAMPLES_PER_FRAME
        # Rates that are multiples of 8 kHz are resampled by the clock slot's batch (outdial.media.batch),
        # which keeps each stream's filter state as the last samples of its previous frame.
        self._down = FrameResampler(sample_rate, G711_RATE) if sample_rate % G711_RATE else None
        self._tx: _Send | None = None
        self._tx_speech = False
        self._tx_tail_reset = bytes(DOWN_HISTORY * 2)
        self._tx_tail = self._tx_tail_reset
        self._dtmf_jobs: deque[_DtmfJob] = deque()
        self._dtmf_job: _DtmfJob | None = None
        self._event_timestamp = 0
        self.first_speech_sent_at: float | None = None
        # Receive side
        self._rx_ssrc: int | None = None
        self._rx_payload_type = g711.PCMU
        self._reception = rtcp.ReceptionStatistics(G711_RATE)
        self._jitter = JitterBuffer(self._silence_payload)
        self._up = FrameResampler(G711_RATE, sample_rate) if sample_rate % G711_RATE else None
        self._rx_tail_reset = bytes([g711.ULAW_SILENCE]) * UP_HISTORY
        self._rx_tail = self._rx_tail_reset
        self._dtmf_rx = DtmfReceiver()
        # RTCP state
        self._ticks = 0
        self._next_rtcp_tick = secrets.randbelow(RTCP_INTERVAL_TICKS // 2) + RTCP_INTERVAL_TICKS // 2
        self._sent_since_report = False
        self._last_sr: int = 0  # middle 32 bits of the peer's last SR NTP timestamp
        self._last_sr_arrival = 0.0
        # Handlers
        self._audio_handler: AudioHandler | None = None
        self._dtmf_handler: DtmfHandler | None = None
        self._sent_handler: AudioHandler | None = None
        self._speech_handler: SpeechHandler | None = None
        # Counters
        self._packets_sent = 0
        self._bytes_sent = 0
        self._bytes_received = 0
        self._dtmf_sent = 0
        self._dtmf_received = 0
        self._srtp_errors = 0
        self._srtcp_errors = 0
        self._malformed = 0
        self._rtcp_sent = 0
        self._rtcp_received = 0
        self._remote_fraction_lost: float | None = None
        self._remote_jitter_ms: float | None = None
        self._round_trip_ms: float | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    @classmethod
    async def open(
        cls, host: str = "127.0.0.1", port: int = 0, sample_rate: int = 16000, clock: MediaClock | None = None
    ) -> MediaStream:
        """Bind an RTP/RTCP port pair on ``host`` (``port`` 0: any free even port)."""
        stream = cls(sample_rate, clock if clock is not None else default_clock())
        rtp_sock, rtcp_sock = bind_port_pair(host, port)
        loop = asyncio.get_running_loop()
        try:
            with contextlib.suppress(OSError):
                # Each datagram carries its arrival time, for the interarrival jitter estimate.
                rtp_sock.setsockopt(socket.SOL_SOCKET, batch.SO_TIMESTAMPNS, 1)
                stream._rx_kernel_time = True
            stream._rtp_sock = rtp_sock
            stream._rtcp_transport, _ = await loop.create_datagram_endpoint(
                functools.partial(DatagramHandler, stream._on_rtcp), sock=rtcp_sock
            )
        except BaseException:
            rtp_sock.close()
            rtcp_sock.close()
            raise
        stream.local_host, stream.local_port = rtp_sock.getsockname()[:2]
        return stream

    def configure(
        self,
        remote: tuple[str, int],
        payload_type: int = g711.PCMU,
        dtmf_payload_type: int | None = None,
        srtp: SrtpKeys | None = None,
        remote_rtcp: tuple[str, int] | None = None,
    ) -> None:
        """Set (or change, on re-INVITE) the peer address, codec, DTMF payload type and SRTP keys."""
        if self._closed:
            raise MediaError("media stream is closed")
        if payload_type not in (g711.PCMU, g711.PCMA):
            raise MediaError(f"payload type {payload_type} is not G.711: use 0 (PCMU) or 8 (PCMA)")
        host = _ipv4(remote[0])
        self._remote = (host, int(remote[1]))
        self._remote_rtcp = (
            (_ipv4(remote_rtcp[0]), int(remote_rtcp[1])) if remote_rtcp else (host, self._remote[1] + 1)
        )
        if payload_type != self._payload_type:
            self._payload_type = payload_type
            self._silence_payload = bytes([g711.silence_byte(payload_type)]) * SAMPLES_PER_FRAME
        self._dtmf_payload_type = dtmf_payload_type
        if srtp != self._srtp_keys:
            self._srtp_keys = srtp
            self._srtp = SrtpContext(srtp) if srtp else None
        if not self._registered:
            self._registered = True
            self._clock.add(self)

    def set_direction(self, direction: Direction) -> None:
        """Our side's SDP direction: whether we send RTP and whether received audio is played out."""
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction {direction!r}: use one of {', '.join(_DIRECTIONS)}")
        self._direction = direction
        self._sending = direction in ("sendrecv", "sendonly")
        self._receiving = direction in ("sendrecv", "recvonly")
        if not self._receiving:
            self._jitter.reset()

    @property
    def direction(self) -> Direction:
        return self._direction

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._clock.remove(self)
        if self._remote_rtcp is not None and self._packets_sent:
            with contextlib.suppress(OSError):
                self._send_rtcp([*self._reports(), rtcp.Bye([self.ssrc])])
        for job in [*([self._dtmf_job] if self._dtmf_job else []), *self._dtmf_jobs]:
            if not job[1].done():
                job[1].set_exception(MediaError("media stream closed before the DTMF digits were sent"))
        self._dtmf_jobs.clear()
        self._dtmf_job = None
        if self._rtcp_transport is not None:
            self._rtcp_transport.close()
        if self._rtp_sock is not None:
            self._rtp_sock.close()
            self._rtp_sock = None

    @property
    def closed(self) -> bool:
        return self._closed

    # --- audio out -----------------------------------------------------------------------------

    def write(self, pcm16: bytes | bytearray | memoryview) -> None:
        """Queue 16-bit LE mono PCM at ``sample_rate``; the clock sends it in 20 ms frames."""
        if len(pcm16) % 2:
            raise ValueError("PCM16 audio must be an even number of bytes")
        self._out += pcm16

    def clear_output(self) -> None:
        """Barge-in: drop all queued audio; the next tick sends silence."""
        self._out.clear()

    @property
    def output_pending_ms(self) -> float:
        return len(self._out) * 500.0 / self.sample_rate

    def reset_first_speech(self) -> None:
        """Re-arm ``first_speech_sent_at`` and the first-speech handler (e.g. at each agent turn)."""
        self.first_speech_sent_at = None

    async def send_dtmf(self, digits: str, duration_ms: int = 100) -> None:
        """Send digits as RFC 4733 events in place of audio; returns when the last end packet is sent."""
        for digit in digits:
            digit_to_event(digit)
        if duration_ms < FRAME_MS:
            raise MediaError(f"DTMF duration {duration_ms} ms is shorter than one {FRAME_MS} ms frame")
        if self._dtmf_payload_type is None:
            raise MediaError("the peer did not negotiate telephone-event: no DTMF payload type configured")
        if self._closed:
            raise MediaError("media stream is closed")
        if not self._sending:
            raise MediaError(f"cannot send DTMF while the stream is {self._direction}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._dtmf_jobs.append((digits_schedule(digits, duration_ms, frame_ms=FRAME_MS), future))
        self._dtmf_sent += len(digits)
        await future

    # --- handlers ------------------------------------------------------------------------------

    def set_audio_handler(self, handler: AudioHandler | None) -> None:
        """``handler(frame)`` every 20 ms while receiving: PCM16 at ``sample_rate``, silence when idle."""
        self._audio_handler = handler

    def set_dtmf_handler(self, handler: DtmfHandler | None) -> None:
        self._dtmf_handler = handler

    def set_sent_handler(self, handler: AudioHandler | None) -> None:
        """``handler(frame)`` per 20 ms frame of written audio as it is sent (PCM16 at ``sample_rate``)."""
        self._sent_handler = handler

    def set_first_speech_handler(self, handler: SpeechHandler | None) -> None:
        """``handler(t)`` with the ``time.monotonic()`` of the first sent packet carrying speech."""
        self._speech_handler = handler

    # --- the clock tick ------------------------------------------------------------------------

    # The clock calls batch.prepare_sends for the streams of a slot, then each one's _on_tick, then
    # batch.play_frames: the audio work of a whole slot is done as one block.
    _slot_prepare = staticmethod(batch.prepare_sends)
    _slot_finish = staticmethod(batch.play_frames)

    def _on_tick(self) -> None:
        self._ticks += 1
        # The RTP clock runs while we do not send too (hold), so timestamps keep tracking real time.
        timestamp = self._timestamp
        self._timestamp = (timestamp + SAMPLES_PER_FRAME) & 0xFFFFFFFF
        tx = self._tx
        if tx is not None:
            self._tx = None
            payload_type, marker, event_timestamp, payload, frame = tx
            if marker is not None and event_timestamp is not None:
                self._send_packet(payload_type, marker, event_timestamp, payload)
            elif self._tx_speech:
                self._tx_speech = False
                self.first_speech_sent_at = time.monotonic()
                self._send_packet(payload_type, self._marker, timestamp, payload)
                self._marker = False
                if self._speech_handler is not None:
                    self._speech_handler(self.first_speech_sent_at)
            else:
                self._send_packet(payload_type, self._marker, timestamp, payload)
                self._marker = False
            if frame is not None and self._sent_handler is not None:
                self._sent_handler(frame)
        if self._ticks >= self._next_rtcp_tick:
            self._next_rtcp_tick = self._ticks + RTCP_INTERVAL_TICKS
            try:
                self._send_rtcp(self._reports())
            except OSError as exc:
                log.debug("RTCP send failed: %s", exc)

    def _next_dtmf_event(self) -> _Send | None:
        """This tick's RFC 4733 packet while digits are being sent (None: audio goes out instead)."""
        if self._dtmf_job is None and self._dtmf_jobs:
            self._dtmf_job = self._dtmf_jobs.popleft()
        if self._dtmf_job is None:
            return None
        item = next(self._dtmf_job[0], None)
        if item is None:
            if not self._dtmf_job[1].done():
                self._dtmf_job[1].set_result(None)
            self._dtmf_job = None
            return None
        event, starts = item
        if starts:
            self._event_timestamp = self._timestamp
        if event is None or self._dtmf_payload_type is None:
            return None
        # The event replaces this frame's audio; queued audio waits until the digits end.
        return (self._dtmf_payload_type, event.marker, self._event_timestamp, event.payload, None)

    def _send_packet(self, payload_type: int, marker: bool, timestamp: int, payload: bytes) -> None:
        packet = _HEADER.pack(0x80, (0x80 if marker else 0) | payload_type, self._seq, timestamp, self.ssrc)
        packet += payload
        self._seq = (self._seq + 1) & 0xFFFF
        if self._srtp is not None:
            packet = self._srtp.protect(packet)
        sock = self._rtp_sock
        if sock is not None:
            try:
                sock.sendto(packet, self._remote)  # type: ignore[arg-type]
            except OSError as exc:
                # A full socket buffer (the packet is dropped: resending it late is no use) or an
                # unreachable network: RTP carries on.
                log.debug("RTP send failed: %s", exc)
        self._packets_sent += 1
        self._bytes_sent += len(payload)
        self._sent_since_report = True

    # --- receiving -----------------------------------------------------------------------------

    def _on_rtp(self, data: bytes, arrival: float) -> None:
        """One datagram read from the RTP port; ``arrival`` in seconds (any fixed origin)."""
        # Any source address is accepted: sipp's pcap DTMF arrive from port 0, and trunks behind NAT
        # or media relays often send from a port other than the one in their SDP.
        if len(data) >= 2 and 192 <= data[1] <= 223:
            self._on_rtcp(data)  # RTCP multiplexed on the RTP port (RFC 5761)
            return
        if self._srtp is not None:
            try:
                data = self._srtp.unprotect(data)
            except SrtpError:
                self._srtp_errors += 1
                return
        if len(data) > 12 and data[0] == 0x80:
            # The common case (no CSRC, extension or padding) skips building an RtpPacket.
            second, sequence_number, timestamp, ssrc = _FIXED_AFTER_FIRST.unpack_from(data, 1)
            payload_type = second & 0x7F
            payload = data[12:]
        else:
            try:
                packet = RtpPacket.parse(data)
            except RtpError:
                self._malformed += 1
                return
            payload_type = packet.payload_type
            sequence_number, timestamp, ssrc = packet.sequence_number, packet.timestamp, packet.ssrc
            payload = packet.payload
        if payload_type == self._dtmf_payload_type:
            digit = self._dtmf_rx.receive(ssrc, timestamp, payload)
            if digit is not None:
                self._dtmf_received += 1
                if self._dtmf_handler is not None:
                    self._dtmf_handler(digit)
            return
        if payload_type != g711.PCMU and payload_type != g711.PCMA:
            return  # comfort noise and codecs we did not offer
        if ssrc != self._rx_ssrc:
            # A new source (first packet, or the peer restarted its stream): start its statistics afresh.
            self._rx_ssrc = ssrc
            self._reception = rtcp.ReceptionStatistics(G711_RATE)
            self._jitter.reset()
            if self._up is not None:
                self._up.reset()
            self._rx_tail = self._rx_tail_reset
        if payload_type != self._rx_payload_type:
            self._rx_payload_type = payload_type
            silence = g711.silence_byte(payload_type)
            self._jitter.set_silence(bytes([silence]) * SAMPLES_PER_FRAME)
            self._rx_tail = self._rx_tail_reset = bytes([silence]) * UP_HISTORY
        self._reception.update(sequence_number, timestamp, arrival)
        self._bytes_received += len(payload)
        if self._receiving:
            self._jitter.put(sequence_number, timestamp, payload)

    def _on_rtcp(self, data: bytes, addr: object = None) -> None:
        if self._srtp is not None:
            try:
                data = self._srtp.unprotect_rtcp(data)
            except SrtpError:
                self._srtcp_errors += 1
                return
        try:
            packets = rtcp.parse_compound(data)
        except rtcp.RtcpError:
            self._malformed += 1
            return
        self._rtcp_received += 1
        for packet in packets:
            if isinstance(packet, rtcp.SenderReport):
                self._last_sr = rtcp.ntp_middle(packet.ntp_timestamp)
                self._last_sr_arrival = time.monotonic()
            if isinstance(packet, rtcp.SenderReport | rtcp.ReceiverReport):
                for block in packet.reports:
                    if block.ssrc == self.ssrc:
                        self._on_report_about_us(block)

    def _on_report_about_us(self, block: rtcp.ReportBlock) -> None:
        self._remote_fraction_lost = block.fraction_lost / 256.0
        self._remote_jitter_ms = block.jitter * 1000.0 / G711_RATE
        if block.last_sr:
            # RFC 3550 §6.4.1: RTT = arrival − LSR − DLSR, all in 1/65536 s.
            rtt = (rtcp.ntp_middle(rtcp.ntp_now()) - block.last_sr - block.delay_since_last_sr) & 0xFFFFFFFF
            if rtt < 0x80000000:
                self._round_trip_ms = rtt * 1000.0 / 65536.0

    # --- RTCP ----------------------------------------------------------------------------------

    def _reports(self) -> list[rtcp.RtcpPacket]:
        blocks = []
        if self._rx_ssrc is not None and self._reception.received:
            dlsr = 0
            if self._last_sr:
                dlsr = int((time.monotonic() - self._last_sr_arrival) * 65536) & 0xFFFFFFFF
            blocks.append(self._reception.report_block(self._rx_ssrc, self._last_sr, dlsr))
        report: rtcp.RtcpPacket
        if self._sent_since_report:
            report = rtcp.SenderReport(
                self.ssrc,
                rtcp.ntp_now(),
                self._timestamp,
                self._packets_sent,
                self._bytes_sent,
                blocks,
            )
        else:
            report = rtcp.ReceiverReport(self.ssrc, blocks)
        self._sent_since_report = False
        return [report, rtcp.SourceDescription([(self.ssrc, self.cname)])]

    def _send_rtcp(self, packets: list[rtcp.RtcpPacket]) -> None:
        if self._remote_rtcp is None or self._rtcp_transport is None:
            return
        data = rtcp.serialize_compound(packets)
        if self._srtp is not None:
            data = self._srtp.protect_rtcp(data)
        self._rtcp_transport.sendto(data, self._remote_rtcp)
        self._rtcp_sent += 1

    # --- statistics ----------------------------------------------------------------------------

    @property
    def stats(self) -> StreamStats:
        jb = self._jitter
        return StreamStats(
            packets_sent=self._packets_sent,
            bytes_sent=self._bytes_sent,
            packets_received=self._reception.received,
            bytes_received=self._bytes_received,
            packets_lost=self._reception.lost,
            jitter_ms=self._reception.jitter * 1000.0 / G711_RATE,
            late=jb.discarded_late,
            duplicates=jb.discarded_duplicate,
            overflow=jb.discarded_overflow,
            concealed=jb.concealed,
            dtmf_sent=self._dtmf_sent,
            dtmf_received=self._dtmf_received,
            srtp_errors=self._srtp_errors,
            srtcp_errors=self._srtcp_errors,
            malformed=self._malformed,
            rtcp_sent=self._rtcp_sent,
            rtcp_received=self._rtcp_received,
            remote_fraction_lost=self._remote_fraction_lost,
            remote_jitter_ms=self._remote_jitter_ms,
            round_trip_ms=self._round_trip_ms,
        )
