"""The record of an ended call, printed: transcript, outcome, timings, agent latency, recording."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from outdial.demo.hooks import Delivery
from outdial.demo.progress import STATUS_STYLE

ROLE_STYLE = {"agent": "bold blue", "user": "bold magenta"}
LATENCY_STAGES = ("endpoint_wait", "recognition_final", "brain_first_action", "first_tts_chunk", "send")


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _gap(start: str | None, end: str | None) -> str:
    a, b = _at(start), _at(end)
    return f"{(b - a).total_seconds():.2f} s" if a and b else "—"


def timings(call: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows: each step of the call and how long it took."""
    return [
        ("queued → dialed", _gap(call.get("created_at"), call.get("dialed_at"))),
        ("dialed → answered", _gap(call.get("dialed_at"), call.get("answered_at"))),
        ("answered → ended", _gap(call.get("answered_at"), call.get("ended_at"))),
        ("duration", f"{call['duration_seconds']} s" if call.get("duration_seconds") is not None else "—"),
        ("attempts", str(call.get("attempt_count", len(call.get("attempts", []))))),
        ("SIP status", str(call.get("sip_status_code") or "—")),
    ]


def latency_rows(turns: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The agent's reply latency (end of callee speech → first agent audio), median and worst, by stage."""
    measured = [t["latency"] for t in turns if t.get("role") == "agent" and t.get("latency")]
    rows = []
    for stage in (*LATENCY_STAGES, "total"):
        values = [float(m[stage]) for m in measured if stage in m]
        if values:
            rows.append((stage, f"median {statistics.median(values):.0f} ms, max {max(values):.0f} ms"))
    return rows


def print_summary(
    console: Console,
    call: dict[str, Any],
    transcript: dict[str, Any] | None,
    *,
    recording_file: Path | None = None,
    webhooks: Sequence[Delivery] | None = None,
) -> None:
    status = str(call["status"])
    head = Text("Call ended: ", style="bold")
    head.append(status, style=STATUS_STYLE.get(status, ""))
    if call.get("end_reason"):
        head.append(f" ({call['end_reason']})")
    if call.get("error"):
        head.append(f" — {call['error']}", style="red")
    console.print()
    console.print(head)

    turns = transcript["turns"] if transcript else []
    console.print(Text("\nTranscript", style="bold underline"))
    if not turns:
        console.print("  (none: the call was not answered)")
    for turn in turns:
        line = Text(f"  {turn['start_ms'] / 1000:5.1f}s  ")
        line.append(f"{turn['role']:<6}", style=ROLE_STYLE.get(turn["role"], ""))
        line.append(f" {turn['text']}")
        if turn.get("interrupted"):
            line.append("  [interrupted]", style="dim")
        console.print(line)

    console.print(Text("\nOutcome", style="bold underline"))
    console.print(f"  {json.dumps(call.get('outcome'))}")

    table = Table.grid(padding=(0, 2))
    for label, value in timings(call):
        table.add_row(f"  {label}", value)
    console.print(Text("\nTimings", style="bold underline"))
    console.print(table)

    latency = latency_rows(turns)
    if latency:
        console.print(
            Text("\nAgent latency (end of callee speech → first agent audio)", style="bold underline")
        )
        grid = Table.grid(padding=(0, 2))
        for label, value in latency:
            grid.add_row(f"  {label}", value)
        console.print(grid)

    if webhooks is not None:
        console.print(
            Text(
                "\nWebhooks (Standard Webhooks signatures, checked with the endpoint's secret)",
                style="bold underline",
            )
        )
        for d in webhooks:
            console.print(f"  {d.type:<14} {'signature verified' if d.verified else 'BAD SIGNATURE'}")
        if not webhooks:
            console.print("  (none arrived)")

    console.print(Text("\nRecording", style="bold underline"))
    if recording_file is not None:
        console.print(f"  file: {recording_file}  (stereo WAV: callee left, agent right)")
    if call.get("recording_url"):
        console.print(f"  url:  {call['recording_url']}")
    if recording_file is None and not call.get("recording_url"):
        console.print("  (none)")
