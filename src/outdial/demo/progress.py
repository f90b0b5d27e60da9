"""Follow one call live from ``GET /v1/calls/{id}``: its status changes as they happen, with rich.

On a terminal a live panel redraws in place; elsewhere (a pipe, a log, CI) each change is one plain
line, so the output reads the same in both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from outdial.demo.client import TERMINAL, OutdialClient

STATUS_STYLE = {
    "queued": "cyan",
    "scheduled": "cyan",
    "dialing": "yellow",
    "ringing": "yellow",
    "in_progress": "green",
    "completed": "bold green",
    "no_answer": "bold red",
    "busy": "bold red",
    "failed": "bold red",
    "canceled": "bold red",
}

Notes = Callable[[], list[str]]


@dataclass
class Timeline:
    """The statuses a call went through, each with the seconds since we started following it."""

    started: float = field(default_factory=time.monotonic)
    changes: list[tuple[float, str]] = field(default_factory=list)

    def saw(self, status: str) -> bool:
        """Record ``status`` if it is new; True when it was."""
        if self.changes and self.changes[-1][1] == status:
            return False
        self.changes.append((time.monotonic() - self.started, status))
        return True

    @property
    def current(self) -> str:
        return self.changes[-1][1] if self.changes else "…"


def status_line(at: float, status: str, call: dict[str, Any]) -> Text:
    line = Text(f"  +{at:.1f}s".ljust(11))
    line.append(f"{status:<11}", style=STATUS_STYLE.get(status, ""))
    if status in TERMINAL and call.get("end_reason"):
        line.append(f"  {call['end_reason']}", style="dim")
    if status == "scheduled" and call.get("next_attempt_at"):
        line.append(f"  next attempt at {call['next_attempt_at']}", style="dim")
    return line


def _panel(call_id: str, timeline: Timeline, call: dict[str, Any], notes: list[str]) -> Group:
    table = Table.grid(padding=(0, 1))
    for at, status in timeline.changes:
        table.add_row(status_line(at, status, call))
    parts: list[Any] = [Text(f"Call {call_id}", style="bold"), table]
    if notes:
        parts.append(Text("\n".join(notes), style="dim"))
    if timeline.current not in TERMINAL:
        parts.append(Spinner("dots", text=Text(f" {timeline.current}…", style="dim")))
    return Group(*parts)


async def follow(
    api: OutdialClient,
    call_id: str,
    console: Console,
    *,
    poll_seconds: float = 0.2,
    within: float | None = None,
    notes: Notes | None = None,
    initial: str | None = None,
) -> dict[str, Any]:
    """Poll the call until it ends (or ``within`` seconds pass); returns its last state.

    ``initial``: the status ``POST /v1/calls`` answered, shown first (the dialer may be quicker
    than the first poll)."""
    timeline = Timeline()
    if initial is not None:
        timeline.saw(initial)
        if not console.is_terminal:
            console.print(status_line(0.0, initial, {}))
    deadline = None if within is None else time.monotonic() + within
    printed_notes = 0
    call: dict[str, Any] = {}

    def done() -> bool:
        return call.get("status") in TERMINAL or (deadline is not None and time.monotonic() > deadline)

    if console.is_terminal:
        with Live(console=console, refresh_per_second=8, transient=False) as live:
            while True:
                call = await api.get_call(call_id)
                timeline.saw(call["status"])
                live.update(_panel(call_id, timeline, call, notes() if notes else []))
                if done():
                    return call
                await asyncio.sleep(poll_seconds)
    while True:
        call = await api.get_call(call_id)
        if timeline.saw(call["status"]):
            at, status = timeline.changes[-1]
            console.print(status_line(at, status, call))
        if notes:
            lines = notes()
            for line in lines[printed_notes:]:
                console.print(Text(f"           {line}", style="dim"))
            printed_notes = len(lines)
        if done():
            return call
        await asyncio.sleep(poll_seconds)
