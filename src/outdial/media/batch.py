"""A clock slot's audio work for all its streams at once: one array operation per step, not per call.

The media clock calls ``prepare_sends`` for the streams due in a slot, then each stream's
``_on_tick`` (the RTP header, SRTP and the ``sendto``), then ``play_frames``. The per-stream Python
that remains here is bookkeeping (what to send, what the jitter buffer plays) and copying bytes;
the numeric work is done on a block with one row per stream:

- send: every agent frame due in the slot, each after its filter state (the previous frame's last
  samples), forms one int16 block → one product with the 16 → 8 kHz matrix → one G.711 table look-up
  → each row is one stream's payload.
- receive: every G.711 payload played in the slot, after its filter state (the previous payload's
  last codes), forms one block → one G.711 table look-up (straight to float) → one product with the
  8 → 16 kHz matrix → each row is one stream's PCM frame for its audio handler.

Streams at a rate that is not a multiple of 8 kHz use their own ``FrameResampler`` (soxr) per frame.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from outdial.media import g711
from outdial.media.resample import DOWN_HISTORY, UP_HISTORY, downsample_rows, to_int16, upsample_rows

if TYPE_CHECKING:
    from outdial.media.stream import MediaStream

log = logging.getLogger(__name__)

G711_RATE = 8000
SAMPLES_PER_FRAME = 160  # G.711 samples (= bytes) per 20 ms frame
SPEECH_THRESHOLD = 100  # a frame whose loudest sample is below this (~ -50 dBFS) is not "speech"

# Packets read per stream per tick at most: a backlog (packets that came before the stream was
# configured, or a flood) drains over the next ticks instead of stalling the slot.
MAX_READS_PER_TICK = 64
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; SCM_TIMESTAMPNS has the same value
_TIMESPEC = struct.Struct("@qq")
_MAX_DATAGRAM = 2048
_ANCILLARY_SPACE = socket.CMSG_SPACE(_TIMESPEC.size)

_ULAW_DECODE_F32 = g711.ULAW_DECODE.astype(np.float32)
_ALAW_DECODE_F32 = g711.ALAW_DECODE.astype(np.float32)


def prepare_sends(streams: Sequence[MediaStream]) -> None:
    """Decide what each sending stream sends this tick and compute the audio payloads, in batch.

    Leaves ``stream._tx`` as ``(payload_type, marker, timestamp, payload, frame)`` for ``_on_tick``:
    ``marker``/``timestamp`` None for audio (the stream's own), ``frame`` the written PCM the
    payload carries (None for comfort silence and DTMF events). ``stream._tx_speech`` is True when
    the payload is the first speech since ``reset_first_speech``.
    """
    groups: dict[int, list[tuple[MediaStream, bytes]]] = {}
    for s in streams:
        s._tx = None
        if not s._sending or s._remote is None:
            continue
        if s._dtmf_jobs or s._dtmf_job is not None:
            event = s._next_dtmf_event()
            if event is not None:
                s._tx = event
                continue
        out = s._out
        if not out:
            s._talking = False
            s._tx = (s._payload_type, None, None, s._silence_payload, None)
            continue
        n = s._frame_bytes
        if len(out) >= n:
            frame = bytes(out[:n])
            del out[:n]
        else:
            frame = bytes(out) + bytes(n - len(out))
            out.clear()
        if not s._talking:
            # A new talkspurt starts from a clean filter.
            s._talking = True
            if s._down is not None:
                s._down.reset()
            s._tx_tail = s._tx_tail_reset
        groups.setdefault(s.sample_rate, []).append((s, frame))
    for rate, members in groups.items():
        _encode_group(rate, members)


def _encode_group(rate: int, members: list[tuple[MediaStream, bytes]]) -> None:
    count = len(members)
    if rate == G711_RATE:
        block = np.frombuffer(b"".join(frame for _, frame in members), dtype="<i2").reshape(count, -1)
    elif rate % G711_RATE == 0:
        block = _downsample(rate, members)
    else:
        rows = []
        for s, frame in members:
            assert s._down is not None
            rows.append(s._down.process(np.frombuffer(frame, dtype="<i2")))
        block = np.stack(rows)
    codes = g711.ULAW_ENCODE.take(block.view(np.uint16))
    alaw = [i for i, (s, _) in enumerate(members) if s._payload_type != g711.PCMU]
    if alaw:
        codes[alaw] = g711.ALAW_ENCODE.take(block[alaw].view(np.uint16))
    blob = codes.tobytes()
    speech_rows: npt.NDArray[np.bool_] | None = None
    size = SAMPLES_PER_FRAME
    for i, (s, frame) in enumerate(members):
        speech = False
        if s.first_speech_sent_at is None:
            if speech_rows is None:
                speech_rows = np.abs(block.astype(np.int32)).max(axis=1) > SPEECH_THRESHOLD
            speech = bool(speech_rows[i])
        s._tx = (s._payload_type, None, None, blob[i * size : (i + 1) * size], frame)
        s._tx_speech = speech


def _downsample(rate: int, members: list[tuple[MediaStream, bytes]]) -> npt.NDArray[np.int16]:
    """One int16 row per stream: its filter state then its frame, times the decimation matrix."""
    parts: list[bytes] = []
    keep = DOWN_HISTORY * 2
    for s, frame in members:
        parts.append(s._tx_tail)
        parts.append(frame)
        s._tx_tail = frame[-keep:]
    block = np.frombuffer(b"".join(parts), dtype="<i2").reshape(len(members), -1)
    return to_int16(downsample_rows(block.astype(np.float32), rate, G711_RATE))


def receive(streams: Sequence[MediaStream]) -> int:
    """Read what arrived on the streams' RTP sockets since their last tick; returns the errors.

    One ``poll`` tells which of the slot's sockets have datagrams, so a read is one system call per
    packet, and the event loop is not woken per packet (with hundreds of calls that was ~20,000
    wake-ups a second, each one delaying the clock). A packet waits at most one tick in its socket
    before the jitter buffer sees it: the buffer is read at that same tick, so playout is not later.
    DTMF digits are reported when their first packet is read.
    """
    poller = select.poll()
    by_fd: dict[int, MediaStream] = {}
    for s in streams:
        sock = s._rtp_sock
        if sock is not None:
            fd = sock.fileno()
            poller.register(fd, select.POLLIN)
            by_fd[fd] = s
    errors = 0
    for _ in range(MAX_READS_PER_TICK):
        ready = poller.poll(0)
        if not ready:
            break
        for fd, _events in ready:
            s = by_fd[fd]
            sock = s._rtp_sock
            if sock is None:
                continue
            try:
                if s._rx_kernel_time:
                    data, ancillary, _flags, _addr = sock.recvmsg(_MAX_DATAGRAM, _ANCILLARY_SPACE)
                    arrival = _arrival(ancillary)
                else:
                    data = sock.recv(_MAX_DATAGRAM)
                    arrival = time.time()
            except OSError:
                continue  # nothing after all, or an ICMP error for something we sent
            try:
                s._on_rtp(data, arrival)
            except Exception:
                errors += 1
                log.exception("media packet handling failed")
    return errors


def _arrival(ancillary: list[tuple[int, int, bytes]]) -> float:
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
            seconds, nanoseconds = _TIMESPEC.unpack_from(value)
            return seconds + nanoseconds * 1e-9
    return time.time()


def play_frames(streams: Sequence[MediaStream]) -> int:
    """Read the slot's packets, then hand each receiving stream's audio handler this tick's frame.

    The jitter buffer gives each stream its payload (or a concealment payload, or nothing: silence);
    the payloads of every stream are decoded and upsampled as one block. Returns how many packet
    or audio handlers raised.
    """
    groups: dict[int, list[tuple[MediaStream, bytes]]] = {}
    errors = receive(streams)
    for s in streams:
        if not s._receiving:
            continue
        payload = s._jitter.pop()
        handler = s._audio_handler
        if payload is None:
            s._rx_tail = s._rx_tail_reset  # the peer sends nothing: the filter's past is silence
            if handler is not None:
                errors += _call(handler, s._silence_pcm)
        elif handler is not None:
            groups.setdefault(s.sample_rate, []).append((s, payload))
    for rate, members in groups.items():
        try:
            frames = _decode_group(rate, members)
        except Exception:
            log.exception("decoding a slot's received audio failed")
            errors += len(members)
            continue
        size = len(frames) // len(members)
        for i, (s, _) in enumerate(members):
            handler = s._audio_handler
            if handler is not None:
                errors += _call(handler, frames[i * size : (i + 1) * size])
    return errors


def _call(handler: Callable[[bytes], None], frame: bytes) -> int:
    try:
        handler(frame)
    except Exception:
        log.exception("media audio handler failed")
        return 1
    return 0


def _decode_group(rate: int, members: list[tuple[MediaStream, bytes]]) -> bytes:
    """All members' PCM frames at ``rate``, concatenated in order (16-bit LE)."""
    count = len(members)
    if rate % G711_RATE:
        outs = []
        for s, payload in members:
            assert s._up is not None
            outs.append(s._up.process(g711.decode_samples(payload, s._rx_payload_type)).tobytes())
        return b"".join(outs)
    parts: list[bytes] = []
    keep = UP_HISTORY
    for s, payload in members:
        parts.append(s._rx_tail)
        parts.append(payload)
        s._rx_tail = payload[-keep:]
    codes = np.frombuffer(b"".join(parts), dtype=np.uint8).reshape(count, UP_HISTORY + SAMPLES_PER_FRAME)
    samples = _ULAW_DECODE_F32.take(codes)
    alaw = [i for i, (s, _) in enumerate(members) if s._rx_payload_type != g711.PCMU]
    if alaw:
        samples[alaw] = _ALAW_DECODE_F32.take(codes[alaw])
    if rate == G711_RATE:
        return samples[:, UP_HISTORY:].astype("<i2").tobytes()
    return to_int16(upsample_rows(samples, G711_RATE, rate)).tobytes()
