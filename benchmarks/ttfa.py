"""Answer → first agent audio: 200 OK to the first RTP packet carrying speech, over real SIP/RTP on loopback.

Our ``outdial.sip.UserAgent`` calls a callee UAS (also ``outdial.sip``) on 127.0.0.1; the agent session
is built and its first message synthesized while the phone rings (``prepare()``), and started when the
call is answered (``start()``), as the dialer does. The clock starts when the callee's UAS has built its
200 OK (just before it is sent, so the figure errs high) and stops when the first RTP packet whose
audio is not silence arrives at the callee's socket. Target: p99 ≤ 40 ms (floor: one 20 ms frame).

Prints a table, writes benchmarks/results/ttfa.json; ``--json`` prints {"p50_ms", "p95_ms", "p99_ms"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from outdial.agent.runtime import build_session
from outdial.agent.settings import AgentConfig
from outdial.lifecycle import EndReason
from outdial.media import MediaStream, g711, install_uvloop
from outdial.sip import Answered, Ended, TrunkConfig, UserAgent
from outdial.sip.incoming import IncomingCall

RESULTS = Path(__file__).resolve().parent / "results" / "ttfa.json"
SPEECH_PEAK = 100  # the media layer's own threshold for "carrying speech" (~ -50 dBFS)
RING_S = 0.4

AGENT = AgentConfig.model_validate(
    dict(
        name="ttfa",
        first_message="Hi Ana, this is Acme Dental calling about your appointment on Monday.",
        record=False,
        brain={
            "type": "flow",
            "steps": [
                {"ask": "Can you still make it?", "on": {"yes": "y", "no": "y"}},
                {"id": "y", "say": "Thank you. Goodbye!", "end": True},
            ],
        },
    )
)


async def until(cond: Callable[[], bool], within: float, step: float = 0.005) -> bool:
    """Poll ``cond`` (the media callbacks offer no event to wait on); False when ``within`` s passed."""
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


class ProbeStream(MediaStream):
    """The callee's media stream, noting when RTP packets carrying speech reach its socket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_speech_received_at: float | None = None
        self.speech_received_at: list[float] = []

    def _on_rtp(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > 12 and data[1] & 0x7F in (0, 8):
            pcm = g711.decode_samples(data[12:], data[1] & 0x7F)
            if int(np.abs(pcm.astype(np.int32)).max()) > SPEECH_PEAK:
                now = time.monotonic()
                if self.first_speech_received_at is None:
                    self.first_speech_received_at = now
                self.speech_received_at.append(now)
        super()._on_rtp(data, addr)


class ProbeUA(UserAgent):
    async def open_media(self, host: str) -> MediaStream:
        return await ProbeStream.open(host=host, port=0, sample_rate=self.sample_rate)


@dataclass
class Callee:
    """Rings, answers after ``RING_S``, and hands each answered call to the benchmark."""

    answered: asyncio.Queue[tuple[IncomingCall, ProbeStream, float]] = field(default_factory=asyncio.Queue)

    async def on_invite(self, incoming: IncomingCall) -> None:
        await incoming.ring()
        # A random phase against the 20 ms media clock: the benchmark's own rhythm (it starts each
        # call right after a tick of the previous one) would otherwise flatter the figure.
        await asyncio.sleep(RING_S + random.uniform(0.0, 0.02))
        media = await incoming.answer()
        at = time.monotonic()  # the 200 OK is built; its send is the next thing the loop does
        assert isinstance(media, ProbeStream)
        await self.answered.put((incoming, media, at))


async def one_call(agent_ua: UserAgent, trunk: TrunkConfig, callee: Callee) -> dict[str, float]:
    call = await agent_ua.invite(trunk, to="+15550100", from_="+15550199", ring_timeout=10.0)
    assert call.media is not None
    session = build_session(AGENT, call.media, hangup=lambda _r: call.hangup())
    prepared = asyncio.create_task(session.prepare())
    answered_uac = 0.0
    async for ev in call.events():
        if isinstance(ev, Answered):
            answered_uac = time.monotonic()
            await prepared
            session.start()
            break
        if isinstance(ev, Ended):
            raise RuntimeError(f"the call ended before the answer: {ev.reason}")
    incoming, media, answered_uas = await callee.answered.get()
    await until(lambda: media.first_speech_received_at is not None, 2.0)
    received = media.first_speech_received_at
    sent = call.media.first_speech_sent_at
    await incoming.hangup()
    await session.stop(EndReason.CALLEE_HANGUP)
    await call.wait_ended()
    await incoming.wait_ended()
    if not media.closed:  # the UAS may still be closing it when the benchmark moves on
        await media.close()
    if received is None or sent is None:
        raise RuntimeError("no speech reached the callee within 2 s")
    return {
        "ttfa_ms": (received - answered_uas) * 1000,
        "sip_ms": (answered_uac - answered_uas) * 1000,  # 200 OK built → UAC saw Answered (ACK sent)
        "to_first_packet_ms": (sent - answered_uac) * 1000,  # start() → packet on the wire
        "wire_ms": (received - sent) * 1000,
    }


async def run(calls: int) -> dict[str, Any]:
    callee = Callee()
    callee_ua = await ProbeUA.start("127.0.0.1", 0)
    callee_ua.on_invite = callee.on_invite
    agent_ua = await UserAgent.start("127.0.0.1", 0)
    host, port = callee_ua.address
    trunk = TrunkConfig(address=f"{host}:{port}")
    samples: list[dict[str, float]] = []
    try:
        await one_call(agent_ua, trunk, callee)  # warm-up: engines loaded, grammars compiled
        for _ in range(calls):
            samples.append(await one_call(agent_ua, trunk, callee))
    finally:
        await agent_ua.close()
        await callee_ua.close()
    return summarize(samples)


def summarize(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {"calls": len(samples), "load_average_1m": round(os.getloadavg()[0], 2)}
    for key in samples[0]:
        values = np.array([s[key] for s in samples])
        for q in (50, 95, 99):
            out[f"{key}_p{q}"] = round(float(np.percentile(values, q)), 2)
        out[f"{key}_max"] = round(float(values.max()), 2)
    out["p50_ms"], out["p95_ms"], out["p99_ms"] = out["ttfa_ms_p50"], out["ttfa_ms_p95"], out["ttfa_ms_p99"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 calls instead of 100")
    parser.add_argument("--json", action="store_true", help='print {"p50_ms", "p95_ms", "p99_ms"}')
    parser.add_argument("--calls", type=int, default=None)
    args = parser.parse_args()
    install_uvloop()
    calls = args.calls or (20 if args.quick else 100)
    result = asyncio.run(run(calls))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps({k: result[k] for k in ("p50_ms", "p95_ms", "p99_ms")}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Answer → first agent speech packet, SIP/RTP on 127.0.0.1 ({result['calls']} calls)")
    for col in ("stage", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    for key, label in (
        ("ttfa_ms", "200 OK → first speech packet at the callee"),
        ("sip_ms", "  200 OK → UAC sees Answered (ACK sent)"),
        ("to_first_packet_ms", "  start() → first speech packet sent"),
        ("wire_ms", "  sent → received (loopback)"),
    ):
        table.add_row(label, *(str(result[f"{key}_{q}"]) for q in ("p50", "p95", "p99", "max")))
    Console().print(table)
    print(f"load average (1 min): {result['load_average_1m']}")


if __name__ == "__main__":
    main()
