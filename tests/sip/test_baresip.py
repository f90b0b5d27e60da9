"""Calls to baresip as the callee: it auto-answers, plays a chirp and records what it hears (sndfile)."""

from __future__ import annotations

import asyncio
import subprocess
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import trustme

from outdial.lifecycle import EndReason
from outdial.sip import Call, Timers, TrunkConfig, UserAgent
from tests.sip.sippkit import free_port_block
from tests.support.procs import OwnedProcess, free_port, require_tool

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]
RATE = 8000
LIFETIME_S = 9  # baresip -t: it ends itself; SIGTERM leaves it lingering (NOTES.md)


def chirp(f0: float, f1: float, seconds: float, amplitude: float = 12000) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))
    return (amplitude * np.sin(phase)).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.astype("<i2").tobytes())


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def peak_correlation(signal: np.ndarray, reference: np.ndarray) -> float:
    """Largest normalised cross-correlation of reference against any window of signal (1.0 = identical)."""
    signal = np.asarray(signal, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if len(signal) < len(ref):
        return 0.0
    n = 1 << (len(signal) + len(ref)).bit_length()
    spectrum = np.fft.rfft(signal, n) * np.conj(np.fft.rfft(ref, n))
    corr = np.fft.irfft(spectrum, n)[: len(signal) - len(ref) + 1]
    energy = np.concatenate(([0.0], np.cumsum(signal * signal)))
    window = energy[len(ref) :] - energy[: len(signal) - len(ref) + 1]
    denom = np.sqrt(np.maximum(window, 1e-9) * float(np.dot(ref, ref)))
    return float(np.max(corr / denom))


def carries(signal: np.ndarray, reference: np.ndarray, piece_s: float = 0.25) -> float:
    """Median over the reference's 250 ms pieces of each piece's best correlation within signal.

    Piecewise, so a 20 ms frame the jitter buffer dropped on a loaded machine (which shifts what
    follows) costs one piece, not the whole comparison.
    """
    step = int(RATE * piece_s)
    pieces = [reference[i : i + step] for i in range(0, len(reference) - step + 1, step)]
    return float(np.median([peak_correlation(signal, p) for p in pieces]))


CALLEE_CHIRP = chirp(300, 1500, 2.0)  # what baresip plays
OUR_CHIRP = chirp(1800, 400, 2.0)  # what we send


@dataclass
class Baresip:
    port: int
    rec: Path
    ca_file: Path
    proc: OwnedProcess

    def trunk(self, transport: str = "udp", **kw: object) -> TrunkConfig:
        port = self.port + 1 if transport == "tls" else self.port
        return TrunkConfig(address=f"127.0.0.1:{port}", transport=transport, **kw)  # type: ignore[arg-type]

    def recordings(self, suffix: str) -> list[Path]:
        return sorted(self.rec.glob(f"*{suffix}.wav"))


@pytest.fixture
def baresip(tmp_path: Path) -> Iterator[Baresip]:
    binary = require_tool("baresip", "apt-get install baresip")
    sox = require_tool("sox", "apt-get install sox")
    raw = tmp_path / "chirp.wav"
    write_wav(raw, CALLEE_CHIRP)
    prompt = tmp_path / "prompt_8k.wav"
    # Pad so the call stays up: baresip hangs up when its aufile source reaches the end.
    subprocess.run([sox, str(raw), str(prompt), "pad", "0.3", "15"], check=True)
    rec = tmp_path / "rec"
    rec.mkdir()
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    port = _sip_port_pair()
    rtp = free_port_block(20)
    (tmp_path / "config").write_text(
        f"""poll_method epoll
sip_listen 127.0.0.1:{port}
sip_certificate {tmp_path / "server.pem"}
net_interface 127.0.0.1
audio_player alsa,null
audio_alert alsa,null
audio_source aufile,{prompt}
ausrc_srate {RATE}
auplay_srate {RATE}
rtp_ports {rtp}-{rtp + 19}
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module alsa.so
module sndfile.so
module srtp.so
module_app account.so
module_app menu.so
snd_path {rec}
"""
    )
    (tmp_path / "accounts").write_text(
        "<sip:callee@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU\n"
        "<sip:secure@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU;mediaenc=srtp-mand\n"
    )
    log = (tmp_path / "baresip.log").open("wb")
    proc = OwnedProcess(
        [binary, "-f", str(tmp_path), "-t", str(LIFETIME_S)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_tcp(port, proc)
        yield Baresip(port, rec, tmp_path / "ca.pem", proc)
    finally:
        try:
            proc.wait(LIFETIME_S + 5)
        except subprocess.TimeoutExpired:
            proc.stop()
        log.close()


def _sip_port_pair() -> int:
    """A port free for UDP and TCP whose successor is free for TCP (baresip's TLS listens on port + 1)."""
    import socket

    for _ in range(100):
        port = free_port("tcp")
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free SIP port pair")


def _wait_tcp(port: int, proc: OwnedProcess, timeout: float = 5.0) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise AssertionError("baresip exited at start")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port + 1)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("baresip did not start listening")


async def talk(call: Call, seconds: float = 3.0) -> np.ndarray:
    """Once answered, send OUR_CHIRP and collect what arrives for `seconds`."""
    assert await asyncio.wait_for(call.wait_answered(), 5), call.ended
    assert call.media is not None
    heard = bytearray()
    call.media.set_audio_handler(heard.extend)
    call.media.write(OUR_CHIRP.tobytes())
    await asyncio.sleep(seconds)
    await call.hangup()
    ended = await call.wait_ended()
    assert ended.end_reason is EndReason.AGENT_HANGUP
    return np.frombuffer(bytes(heard), dtype="<i2").astype(np.float64)


async def assert_callee_heard_us(baresip: Baresip) -> None:
    """baresip's decoder dump (what it heard from us) carries our chirp."""
    for _ in range(40):
        if baresip.recordings("dec"):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # the WAV header is completed when baresip closes the stream
    dumps = baresip.recordings("dec")
    assert dumps, "baresip recorded nothing"
    assert carries(read_wav(dumps[-1]), OUR_CHIRP) > 0.9


@pytest.fixture
async def ua() -> UserAgent:
    return await UserAgent.start(timers=Timers(t1=0.1), sample_rate=RATE)


async def test_audio_flows_both_ways_with_baresip(baresip: Baresip, ua: UserAgent) -> None:
    try:
        call = await ua.invite(baresip.trunk(), to="callee", from_="+15557654321")
        heard = await talk(call)
    finally:
        await ua.close()
    assert carries(heard, CALLEE_CHIRP) > 0.9
    await assert_callee_heard_us(baresip)


async def test_mandatory_srtp_call_carries_audio_both_ways(baresip: Baresip, ua: UserAgent) -> None:
    try:
        call = await ua.invite(baresip.trunk(media_encryption="srtp_required"), to="secure", from_="200")
        heard = await talk(call)
        assert call.negotiated is not None and call.negotiated.encrypted
        assert call.media is not None and call.media.stats.srtp_errors == 0
    finally:
        await ua.close()
    assert carries(heard, CALLEE_CHIRP) > 0.9
    await assert_callee_heard_us(baresip)


async def test_call_over_tls_with_a_verified_certificate(baresip: Baresip, ua: UserAgent) -> None:
    try:
        trunk = baresip.trunk("tls", tls_ca_file=str(baresip.ca_file))
        call = await ua.invite(trunk, to="callee", from_="200")
        heard = await talk(call, 2.5)
    finally:
        await ua.close()
    assert carries(heard, CALLEE_CHIRP) > 0.9


async def test_tls_with_an_untrusted_certificate_ends_as_trunk_error(
    baresip: Baresip, ua: UserAgent, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    try:
        call = await ua.invite(baresip.trunk("tls", tls_ca_file=str(other_ca)), to="callee", from_="200")
        ended = await asyncio.wait_for(call.wait_ended(), 5)
    finally:
        await ua.close()
    assert ended.end_reason is EndReason.TRUNK_ERROR
    assert ended.sip_status is None
    assert "certificate" in ended.reason.lower() or "tls" in ended.reason.lower()
