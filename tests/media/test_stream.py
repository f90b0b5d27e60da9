"""Two MediaStreams on loopback: audio both ways, codecs, SRTP, DTMF, barge-in and directions."""

from __future__ import annotations

import asyncio
import socket
import time

import numpy as np
import pytest

from outdial.media import PCMA, PCMU, MediaError, MediaStream, SrtpKeys, g711, generate_srtp_key
from tests.media.conftest import OpenStream
from tests.media.signals import best_correlation, speech_like


async def _pair(
    open_stream: OpenStream, rate: int, payload_type: int, srtp: bool
) -> tuple[MediaStream, MediaStream]:
    a, b = await open_stream(rate), await open_stream(rate)
    ka, kb = (generate_srtp_key(), generate_srtp_key()) if srtp else (b"", b"")
    a.configure(("127.0.0.1", b.local_port), payload_type, 101, SrtpKeys(ka, kb) if srtp else None)
    b.configure(("127.0.0.1", a.local_port), payload_type, 101, SrtpKeys(kb, ka) if srtp else None)
    return a, b


async def _collect(stream: MediaStream, frames: int) -> bytes:
    got: list[bytes] = []
    done = asyncio.get_running_loop().create_future()

    def on_audio(frame: bytes) -> None:
        got.append(frame)
        if len(got) >= frames and not done.done():
            done.set_result(None)

    stream.set_audio_handler(on_audio)
    await asyncio.wait_for(done, timeout=10)
    stream.set_audio_handler(None)
    return b"".join(got)


@pytest.mark.parametrize("payload_type", [PCMU, PCMA], ids=["pcmu", "pcma"])
@pytest.mark.parametrize("srtp", [False, True], ids=["rtp", "srtp"])
async def test_audio_flows_both_ways_and_correlates_with_the_source(
    open_stream: OpenStream, payload_type: int, srtp: bool
) -> None:
    a, b = await _pair(open_stream, 16000, payload_type, srtp)
    to_b, to_a = speech_like(1.0, 16000, seed=1), speech_like(1.0, 16000, seed=2)
    a.write(to_b)
    b.write(to_a)
    heard_by_b, heard_by_a = await asyncio.gather(_collect(b, 60), _collect(a, 60))
    for sent, heard in ((to_b, heard_by_b), (to_a, heard_by_a)):
        corr, _lag = best_correlation(sent, heard, max_lag=16000 * 120 // 1000)
        assert corr > 0.9
    for s in (a, b):
        assert s.stats.packets_lost == 0
        assert s.stats.srtp_errors == 0
        assert s.stats.packets_sent >= 50


async def test_at_8khz_received_audio_is_exactly_the_g711_decoding_of_what_was_sent(
    open_stream: OpenStream,
) -> None:
    a, b = await _pair(open_stream, 8000, PCMU, srtp=False)
    source = speech_like(0.5, 8000)
    a.write(source)
    heard = await _collect(b, 30)
    expected = g711.ulaw_decode(g711.ulaw_encode(source))
    start = heard.find(expected[:320])
    assert start >= 0 and start % 320 == 0
    assert heard[start : start + len(expected)] == expected


async def test_dtmf_digits_arrive_once_each_in_order(open_stream: OpenStream) -> None:
    a, b = await _pair(open_stream, 16000, PCMU, srtp=False)
    digits: list[str] = []
    b.set_dtmf_handler(digits.append)
    await a.send_dtmf("19*#", duration_ms=100)
    await asyncio.sleep(0.1)
    assert "".join(digits) == "19*#"
    assert b.stats.dtmf_received == 4


async def test_dtmf_over_srtp(open_stream: OpenStream) -> None:
    a, b = await _pair(open_stream, 8000, PCMA, srtp=True)
    digits: list[str] = []
    b.set_dtmf_handler(digits.append)
    await a.send_dtmf("5A", duration_ms=60)
    await asyncio.sleep(0.1)
    assert digits == ["5", "A"]


async def test_configure_resolves_a_name_once_and_refuses_non_g711_payload_types(
    open_stream: OpenStream,
) -> None:
    a = await open_stream()
    a.configure(("localhost", 4000), PCMU)
    assert a._remote == ("127.0.0.1", 4000) and a._remote_rtcp == ("127.0.0.1", 4001)
    with pytest.raises(MediaError, match="not G"):
        a.configure(("127.0.0.1", 4000), 18)


async def test_send_dtmf_without_a_negotiated_payload_type_is_refused(open_stream: OpenStream) -> None:
    a = await open_stream()
    a.configure(("127.0.0.1", 9), PCMU, dtmf_payload_type=None)
    with pytest.raises(MediaError, match="telephone-event"):
        await a.send_dtmf("1")


async def test_send_dtmf_checks_digits_and_duration_before_queueing(open_stream: OpenStream) -> None:
    from outdial.media.dtmf import DtmfError

    a = await open_stream()
    a.configure(("127.0.0.1", 9), PCMU, dtmf_payload_type=101)
    with pytest.raises(DtmfError, match="not a DTMF digit"):
        await a.send_dtmf("12x")
    with pytest.raises(MediaError, match="shorter than one"):
        await a.send_dtmf("1", duration_ms=10)
    assert a.stats.dtmf_sent == 0


async def test_clear_output_drops_queued_audio_before_the_next_tick(open_stream: OpenStream) -> None:
    a, _b = await _pair(open_stream, 16000, PCMU, srtp=False)
    a.write(speech_like(2.0, 16000))
    await asyncio.sleep(0.1)
    assert 1000 < a.output_pending_ms < 2000
    a.clear_output()
    assert a.output_pending_ms == 0
    sent: list[bytes] = []
    a.set_sent_handler(sent.append)
    packets_before = a.stats.packets_sent
    await asyncio.sleep(0.1)
    assert sent == []  # nothing of the dropped audio went out
    assert a.stats.packets_sent >= packets_before + 3  # comfort silence keeps flowing


async def test_sent_handler_sees_exactly_the_written_audio_and_first_speech_is_timestamped(
    open_stream: OpenStream,
) -> None:
    a, _b = await _pair(open_stream, 16000, PCMU, srtp=False)
    sent: list[bytes] = []
    speech_at: list[float] = []
    a.set_sent_handler(sent.append)
    frames_before_speech: list[int] = []

    def on_speech(at: float) -> None:
        speech_at.append(at)
        frames_before_speech.append(len(sent))

    a.set_first_speech_handler(on_speech)
    await asyncio.sleep(0.1)
    assert a.first_speech_sent_at is None  # comfort silence is not speech
    assert sent == []  # nor is it reported as sent audio
    written = bytes(640 * 2) + speech_like(0.2, 16000)  # leading silence in the queue is not speech
    a.write(written)
    before = time.monotonic()
    await asyncio.sleep(0.4)
    assert len(speech_at) == 1 and a.first_speech_sent_at == speech_at[0]
    assert before < speech_at[0] < before + 0.3
    assert frames_before_speech == [2]  # the two silent frames went out first and did not count
    assert b"".join(sent) == written
    assert all(len(frame) == 640 for frame in sent)


async def test_recvonly_sends_nothing_and_sendonly_plays_nothing(open_stream: OpenStream) -> None:
    a, b = await _pair(open_stream, 8000, PCMU, srtp=False)
    a.set_direction("recvonly")
    b.set_direction("sendonly")
    heard: list[bytes] = []
    b.set_audio_handler(heard.append)
    await asyncio.sleep(0.2)
    sent_before = a.stats.packets_sent
    a.write(speech_like(0.2, 8000))
    await asyncio.sleep(0.2)
    assert a.stats.packets_sent == sent_before
    assert heard == []
    assert a.stats.packets_received > 5  # b still sends (sendonly)
    with pytest.raises(MediaError, match="recvonly"):
        await a.send_dtmf("1")


async def test_reconfigure_switches_codec_mid_call(open_stream: OpenStream) -> None:
    a, b = await _pair(open_stream, 8000, PCMU, srtp=False)
    await _collect(b, 5)
    a.configure(("127.0.0.1", b.local_port), PCMA, 101)
    b.configure(("127.0.0.1", a.local_port), PCMA, 101)
    source = speech_like(0.4, 8000)
    a.write(source)
    heard = await _collect(b, 40)
    assert g711.alaw_decode(g711.alaw_encode(source))[:3200] in heard


@pytest.mark.parametrize("srtp", [False, True], ids=["rtcp", "srtcp"])
async def test_rtcp_reports_flow_and_give_a_round_trip(
    open_stream: OpenStream, monkeypatch: pytest.MonkeyPatch, srtp: bool
) -> None:
    monkeypatch.setattr("outdial.media.stream.RTCP_INTERVAL_TICKS", 10)
    a, b = await _pair(open_stream, 8000, PCMU, srtp)
    a._next_rtcp_tick = b._next_rtcp_tick = 10
    await asyncio.sleep(0.8)
    for s in (a, b):
        assert s.stats.srtp_errors == 0 and s.stats.malformed == 0
        assert s.stats.rtcp_sent >= 2 and s.stats.rtcp_received >= 2
        assert s.stats.remote_fraction_lost == 0
        assert s.stats.round_trip_ms is not None and 0 <= s.stats.round_trip_ms < 50


async def test_srtp_with_mismatched_keys_counts_errors_and_plays_nothing(open_stream: OpenStream) -> None:
    a, b = await open_stream(8000), await open_stream(8000)
    a.configure(("127.0.0.1", b.local_port), PCMU, srtp=SrtpKeys(generate_srtp_key(), generate_srtp_key()))
    b.configure(("127.0.0.1", a.local_port), PCMU, srtp=SrtpKeys(generate_srtp_key(), generate_srtp_key()))
    heard: list[bytes] = []
    b.set_audio_handler(heard.append)
    a.write(speech_like(0.2, 8000))
    await asyncio.sleep(0.3)
    assert heard and set(heard) == {bytes(320)}  # only the idle silence, never the peer's audio
    assert b.stats.srtp_errors >= 5
    assert b.stats.packets_received == 0


def test_sample_rate_must_make_whole_frames() -> None:
    with pytest.raises(ValueError, match="multiple of 50"):
        MediaStream(8010, clock=None)  # type: ignore[arg-type]


async def test_port_pair_is_even_and_rtcp_is_next(open_stream: OpenStream) -> None:
    stream = await open_stream()
    assert stream.local_port % 2 == 0
    assert stream._rtcp_transport is not None
    assert stream._rtcp_transport.get_extra_info("sockname")[1] == stream.local_port + 1


async def test_received_pcm_frames_are_20ms_at_the_stream_rate(open_stream: OpenStream) -> None:
    _a, b = await _pair(open_stream, 16000, PCMU, srtp=False)
    frames: list[bytes] = []
    b.set_audio_handler(frames.append)
    await asyncio.sleep(0.2)
    assert frames and {len(f) for f in frames} == {640}
    assert np.frombuffer(frames[-1], dtype="<i2").max() < 50  # comfort silence decodes to silence


async def test_audio_handler_ticks_with_silence_while_the_peer_sends_nothing(open_stream: OpenStream) -> None:
    a = await open_stream(8000)
    a.configure(("127.0.0.1", 9), PCMU)  # the discard port: nothing ever comes back
    frames: list[bytes] = []
    a.set_audio_handler(frames.append)
    started = time.monotonic()
    await asyncio.sleep(0.3)
    elapsed = time.monotonic() - started
    assert abs(len(frames) - elapsed / 0.020) <= 3  # one frame per tick, whatever the machine's load
    assert set(frames) == {bytes(320)}


async def test_packets_from_an_unexpected_source_are_accepted(open_stream: OpenStream) -> None:
    # sipp's pcap DTMF arrive from source port 0 and trunks often send from another port than their SDP's.
    from outdial.media.dtmf import event_packets
    from outdial.media.rtp import RtpPacket

    stream = await open_stream(8000)
    stream.configure(("127.0.0.1", 9), PCMU, dtmf_payload_type=101)
    digits: list[str] = []
    heard: list[bytes] = []
    stream.set_dtmf_handler(digits.append)
    stream.set_audio_handler(heard.append)
    source = g711.ulaw_encode(speech_like(0.1, 8000))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.1", 0))
        for i in range(5):
            packet = RtpPacket(PCMU, 100 + i, 160 * i, 0x5151, source[160 * i : 160 * (i + 1)])
            stranger.sendto(packet.serialize(), ("127.0.0.1", stream.local_port))
        for i, event in enumerate(event_packets("9", 60)):
            packet = RtpPacket(101, 200 + i, 4000, 0x5151, event.payload, marker=event.marker)
            stranger.sendto(packet.serialize(), ("127.0.0.1", stream.local_port))
        await asyncio.sleep(0.25)
    assert digits == ["9"]
    assert g711.ulaw_decode(source) in b"".join(heard)


@pytest.mark.parametrize("ptime_ms", [10, 30])
async def test_a_peer_using_another_packet_time_is_played_exactly(
    open_stream: OpenStream, ptime_ms: int
) -> None:
    from outdial.media.rtp import RtpPacket

    stream = await open_stream(8000)
    stream.configure(("127.0.0.1", 9), PCMU)
    heard: list[bytes] = []
    stream.set_audio_handler(heard.append)
    source = g711.ulaw_encode(speech_like(0.6, 8000)).replace(b"\x7f", b"\xff")
    size = 8 * ptime_ms
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        start = time.monotonic()
        for i in range(len(source) // size):
            # Paced on absolute deadlines, 100 ms ahead: a busy test machine cannot starve the buffer.
            await asyncio.sleep(max(0.0, start + i * ptime_ms / 1000 - 0.1 - time.monotonic()))
            packet = RtpPacket(PCMU, i, 1000 + i * size, 0x3030, source[i * size : (i + 1) * size])
            peer.sendto(packet.serialize(), ("127.0.0.1", stream.local_port))
        await asyncio.sleep(0.3)
    assert g711.ulaw_decode(source) in b"".join(heard)
    assert stream.stats.late == 0 and stream.stats.overflow == 0


async def test_first_speech_is_reported_once_even_when_its_frame_is_the_last_before_silence(
    open_stream: OpenStream,
) -> None:
    a, _b = await _pair(open_stream, 16000, PCMU, srtp=False)
    speech_at: list[float] = []
    a.set_first_speech_handler(speech_at.append)
    a.write(speech_like(0.02, 16000))  # exactly one frame of speech, then comfort silence
    await asyncio.sleep(0.2)
    assert len(speech_at) == 1 and a.first_speech_sent_at == speech_at[0]
