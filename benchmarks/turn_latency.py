"""Turn latency: end of the callee's speech → the agent's first reply audio, over real SIP/RTP on loopback.

A callee UAS (``outdial.sip``) answers our call and speaks short answers with espeak into its RTP stream
each time the agent has finished talking; the agent runs the default offline stack (webrtc VAD, grammar
pocketsphinx, the flow brain, espeak) with the default turn-taking knobs. Per turn:

- total: the callee's last RTP packet carrying speech is sent → the agent's first reply packet carrying
  speech reaches the callee (wire to wire: includes the agent's jitter buffer and the hangover);
- stages, measured inside the session: endpoint wait (last voiced frame → end of turn), recognition
  final, brain first action, first TTS chunk, send (chunk → first frame on the wire);
- overhead: the session's stages but the endpoint wait (recognition, brain, TTS, send), i.e. all but the
  silence the agent waits for; also shown wire to wire, where it includes the media receive path
  (jitter-buffer prefetch, G.711 resampling, clock phase) between the callee's socket and the VAD.

Targets: overhead p95 ≤ 60 ms; total p50 ≤ 450 ms. Prints a table, writes
benchmarks/results/turn_latency.json; ``--json`` prints {"overhead_p95_ms", "total_p50_ms"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ttfa import SPEECH_PEAK, Callee, ProbeStream, ProbeUA, until

from outdial.agent.latency import STAGES
from outdial.agent.runtime import build_session
from outdial.agent.settings import AgentConfig
from outdial.lifecycle import EndReason
from outdial.media import install_uvloop
from outdial.sip import Answered, Ended, TrunkConfig, UserAgent

RESULTS = Path(__file__).resolve().parent / "results" / "turn_latency.json"
QUIET_S = 0.6  # the agent has finished when no speech reached the callee for this long
ANSWERS = ["yes I can", "no I cannot", "yes", "no"]

# Two asks that hand the turn back and forth for as long as the callee answers.
AGENT = AgentConfig.model_validate(
    dict(
        name="turns",
        first_message="Hello.",
        record=False,
        silence_timeout_seconds=30,
        brain={
            "type": "flow",
            "steps": [
                {"id": "a", "ask": "Can you come on Monday?", "on": {"yes": "b", "no": "b"}},
                {"id": "b", "ask": "And on Tuesday?", "on": {"yes": "a", "no": "a"}},
            ],
        },
    )
)


async def agent_finished(media: ProbeStream, since: float) -> None:
    """Wait until the agent spoke after ``since`` and then fell quiet."""
    while True:
        await asyncio.sleep(0.05)
        heard = [t for t in media.speech_received_at if t > since]
        if heard and time.monotonic() - heard[-1] > QUIET_S:
            return


async def one_call(
    agent_ua: UserAgent, trunk: TrunkConfig, callee: Callee, voice: Any, turns: int
) -> tuple[list[float], list[dict[str, float]]]:
    call = await agent_ua.invite(trunk, to="+15550100", from_="+15550199", ring_timeout=10.0)
    assert call.media is not None
    session = build_session(AGENT, call.media, hangup=lambda _r: call.hangup())
    prepared = asyncio.create_task(session.prepare())
    async for ev in call.events():
        if isinstance(ev, Answered):
            await prepared
            session.start()
            break
        if isinstance(ev, Ended):
            raise RuntimeError(f"the call ended before the answer: {ev.reason}")
    incoming, media, _ = await callee.answered.get()
    last_sent: list[float] = []

    def on_sent(frame: bytes) -> None:
        if int(np.abs(np.frombuffer(frame, dtype=np.int16).astype(np.int32)).max()) > SPEECH_PEAK:
            last_sent.append(time.monotonic())

    media.set_sent_handler(on_sent)
    totals: list[float] = []
    since = 0.0
    for i in range(turns):
        await agent_finished(media, since)
        pcm = b"".join([c async for c in voice.synthesize(ANSWERS[i % len(ANSWERS)])])
        last_sent.clear()
        media.write(pcm)
        await asyncio.sleep(len(pcm) / 2 / media.sample_rate + 0.1)
        await until(lambda: media.output_pending_ms <= 0, 10.0)
        spoke_until = last_sent[-1]
        since = spoke_until
        await until(lambda: any(t > spoke_until for t in media.speech_received_at), 5.0)  # noqa: B023
        reply = next((t for t in media.speech_received_at if t > spoke_until), None)
        if reply is not None:
            totals.append((reply - spoke_until) * 1000)
    await incoming.hangup()
    result = await session.stop(EndReason.CALLEE_HANGUP)
    await call.wait_ended()
    await incoming.wait_ended()
    if not media.closed:  # the UAS may still be closing it when the benchmark moves on
        await media.close()
    return totals, result.latency


async def run(turns_total: int, per_call: int) -> dict[str, Any]:
    from outdial.agent.tts import make_tts

    callee = Callee()
    callee_ua = await ProbeUA.start("127.0.0.1", 0)
    callee_ua.on_invite = callee.on_invite
    agent_ua = await UserAgent.start("127.0.0.1", 0)
    host, port = callee_ua.address
    trunk = TrunkConfig(address=f"{host}:{port}")
    voice = make_tts({"provider": "espeak", "rate": 160}, sample_rate=callee_ua.sample_rate)
    totals: list[float] = []
    stages: list[dict[str, float]] = []
    try:
        while len(totals) < turns_total:
            t, s = await one_call(agent_ua, trunk, callee, voice, min(per_call, turns_total - len(totals)))
            totals += t
            stages += [x for x in s if set(STAGES) <= set(x)]
    finally:
        await agent_ua.close()
        await callee_ua.close()
    return summarize(totals, stages)


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(values), q)), 1) if values else 0.0


def summarize(totals: list[float], stages: list[dict[str, float]]) -> dict[str, Any]:
    n = min(len(totals), len(stages))
    # What the session adds beyond the silence it waits for: recognition, brain, TTS, send.
    overhead = [stages[i]["total"] - stages[i]["endpoint_wait"] for i in range(n)]
    # The same, wire to wire: also the media receive path (jitter buffer, resampling, tick phase).
    overhead_wire = [totals[i] - stages[i]["endpoint_wait"] for i in range(n)]
    receive_path = [totals[i] - stages[i]["total"] for i in range(n)]
    return {
        "turns": len(totals),
        "hangover_ms": AGENT.turn_taking.endpoint_hangover_ms,
        "early_endpoint_ms": AGENT.turn_taking.early_endpoint_ms,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "total_p50_ms": _pct(totals, 50),
        "total_p95_ms": _pct(totals, 95),
        "overhead_p50_ms": _pct(overhead, 50),
        "overhead_p95_ms": _pct(overhead, 95),
        "overhead_wire_p50_ms": _pct(overhead_wire, 50),
        "overhead_wire_p95_ms": _pct(overhead_wire, 95),
        "receive_path_p50_ms": _pct(receive_path, 50),
        "receive_path_p95_ms": _pct(receive_path, 95),
        "stages": {
            name: {"p50": _pct([s[name] for s in stages], 50), "p95": _pct([s[name] for s in stages], 95)}
            for name in (*STAGES, "total")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 turns instead of 60")
    parser.add_argument("--json", action="store_true", help='print {"overhead_p95_ms", "total_p50_ms"}')
    parser.add_argument("--turns", type=int, default=None)
    args = parser.parse_args()
    install_uvloop()
    result = asyncio.run(run(args.turns or (12 if args.quick else 60), per_call=6))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps({k: result[k] for k in ("overhead_p95_ms", "total_p50_ms")}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Turn latency over SIP/RTP on 127.0.0.1 ({result['turns']} turns)")
    for col in ("measure", "p50 ms", "p95 ms"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    rows = [
        ("total: callee's last speech packet sent → agent's first reply packet received", "total"),
        ("  receive path: callee's last packet → agent VAD's last voiced frame", "receive_path"),
        ("overhead (session): total − endpoint wait, from the VAD's last voiced frame", "overhead"),
        ("overhead (wire): total − endpoint wait, receive path included", "overhead_wire"),
    ]
    for label, key in rows:
        table.add_row(label, str(result[f"{key}_p50_ms"]), str(result[f"{key}_p95_ms"]))
    for name, v in result["stages"].items():
        table.add_row(f"  session stage: {name}", str(v["p50"]), str(v["p95"]))
    Console().print(table)
    print(
        f"hangover {result['hangover_ms']} ms (early {result['early_endpoint_ms']} ms on a complete "
        f"expected answer); load average (1 min): {result['load_average_1m']}"
    )


if __name__ == "__main__":
    main()
