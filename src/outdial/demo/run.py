"""The demo, start to end: run the service and the simulated callee, set up through the REST API, place
one call, follow it live, print its record, stop everything (or keep serving with ``--serve``)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from outdial.callee import SimulatedCallee
from outdial.demo import script
from outdial.demo.client import TERMINAL, ApiError, OutdialClient
from outdial.demo.hooks import WebhookInbox
from outdial.demo.progress import follow
from outdial.demo.stack import DemoError, DemoStack, fresh_data_dir, running
from outdial.demo.summary import print_summary
from outdial.demo.tour import Provisioned, render

DONE_LINE = "Demo finished"
WEBHOOK_EVENTS = ["call.queued", "call.ringing", "call.answered", "call.ended"]


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path
    port: int | None = None
    confirm: bool = False  # the callee confirms instead of rescheduling
    serve: bool = False  # keep serving with a curl tour after the call
    call_timeout: float = 50.0


def _ok(console: Console, text: str) -> None:
    console.print(f"[green]✓[/green] {text}")


async def provision(api: OutdialClient, stack: DemoStack, console: Console) -> Provisioned:
    """A trunk to the callee, the demo agent, a caller number verified with OPTIONS, and the call."""
    callee = stack.callee.address
    trunk = await api.create_trunk(
        {"name": "Simulated callee (loopback)", "address": callee, "transport": "udp"}
    )
    _ok(console, f"POST /v1/sip-trunks        trunk {trunk['id']} → simulated callee at udp:{callee}")
    agent = await api.create_agent(script.AGENT)
    _ok(console, f"POST /v1/agents            agent {agent['id']} ({agent['name']})")
    number = await api.create_number(
        {"number": script.CALLER_NUMBER, "trunk_id": trunk["id"], "outbound_agent_id": agent["id"]}
    )
    _ok(console, f"POST /v1/phone-numbers     caller number {number['number']} on that trunk")
    try:
        await api.verify_number(number["id"])
    except ApiError as exc:
        raise DemoError(
            f"verify-voip failed ({exc}). A number is verified only when its trunk answers SIP OPTIONS, "
            f"and the simulated callee at {callee} did not; without a verified number no call can be placed."
        ) from exc
    _ok(console, "POST .../verify-voip       number verified: the callee answered SIP OPTIONS")
    call = await api.create_call(
        {
            "agent_id": agent["id"],
            "to_number": script.CALLEE_NUMBER,
            "variables": script.VARIABLES,
            "metadata": {"source": "outdial demo"},
        }
    )
    _ok(console, f"POST /v1/calls             call {call['id']} {call['status']} → {script.CALLEE_NUMBER}")
    return Provisioned(trunk["id"], agent["id"], number["id"], call["id"], call["status"])


def callee_notes(callee: SimulatedCallee) -> list[str]:
    """What happened at the far end so far, as the simulated callee saw it."""
    notes = []
    for call in callee.calls:
        if call.answered_at is not None:
            notes.append("(simulated callee) picked up")
        notes += [f"(simulated callee) said “{said.text}”" for said in call.said]
    return notes


class LiveNotes:
    """Side notes under the live status, in the order they happened: the callee's view and the
    webhooks that arrived (append-only, so a plain log prints each once)."""

    def __init__(self, callee: SimulatedCallee, inbox: WebhookInbox) -> None:
        self.callee = callee
        self.inbox = inbox
        self.lines: list[str] = []
        self._callee_seen = 0
        self._hooks_seen = 0

    def __call__(self) -> list[str]:
        from_callee = callee_notes(self.callee)
        self.lines += from_callee[self._callee_seen :]
        self._callee_seen = len(from_callee)
        for d in self.inbox.deliveries[self._hooks_seen :]:
            check = "signature verified" if d.verified else "BAD SIGNATURE"
            self.lines.append(f"(webhook) {d.type} delivered, {check}")
        self._hooks_seen = len(self.inbox.deliveries)
        return self.lines


async def subscribe(api: OutdialClient, inbox: WebhookInbox, console: Console) -> None:
    endpoint = await api.request(
        "POST", "/v1/webhook-endpoints", json={"url": inbox.url, "events": WEBHOOK_EVENTS}
    )
    inbox.secret = endpoint["secret"]
    _ok(console, f"POST /v1/webhook-endpoints  signed call events → {inbox.url}")


async def _end_late_call(api: OutdialClient, call: dict[str, Any], console: Console) -> dict[str, Any]:
    console.print(f"[red]The call did not end in time ({call['status']}); canceling it.[/red]")
    try:
        await api.request("POST", f"/v1/calls/{call['id']}/cancel")
    except ApiError as exc:
        console.print(f"  cancel: {exc}")
    return await follow(api, call["id"], console, within=15)


async def run_demo(options: DemoOptions, console: Console) -> int:
    """The whole demo; the exit code is 0 when the call completed.

    SIGTERM cancels it like Ctrl-C does (everything started is stopped on the way out), also after
    the served API has shut down gracefully on it.
    """
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    if main is not None:
        loop.add_signal_handler(signal.SIGTERM, main.cancel)
    try:
        return await _run(options, console)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def _run(options: DemoOptions, console: Console) -> int:
    began = time.monotonic()
    # A Ctrl-C mid-call should not wait the production drain (30 s) for the live call to end.
    os.environ.setdefault("OUTDIAL_DIALER_DRAIN_SECONDS", "5")
    fresh_data_dir(options.data_dir)
    async with running(options.data_dir, script.persona(confirm=options.confirm), port=options.port) as stack:
        console.print(
            f"outdial is running at {stack.base_url} (API + dialer + webhook sender, "
            f"SQLite in {options.data_dir}); simulated callee on udp:{stack.callee.address}"
        )
        async with OutdialClient(stack.base_url, stack.api_key) as api, WebhookInbox() as inbox:
            await subscribe(api, inbox, console)
            made = await provision(api, stack, console)
            console.print("\nFollowing the call (GET /v1/calls/{id}):")
            notes = LiveNotes(stack.callee, inbox)
            call = await follow(
                api, made.call_id, console, within=options.call_timeout, notes=notes, initial=made.call_status
            )
            if call["status"] not in TERMINAL:
                call = await _end_late_call(api, call, console)
            await inbox.wait_for("call.ended", within=5)  # delivered just after the call ended
            transcript = await api.transcript(made.call_id) if call.get("answered_at") else None
            recording = stack.recording_of(made.call_id, max(1, int(call.get("attempt_count") or 1)))
            print_summary(console, call, transcript, recording_file=recording, webhooks=inbox.deliveries)
            console.print(
                f"\n{DONE_LINE} in {time.monotonic() - began:.1f} s: the call ended {call['status']}."
            )
            if options.serve:
                console.print()
                console.print(render(stack.base_url, stack.api_key, made), highlight=False, markup=False)
                console.print("\nPress Ctrl-C to stop.")
                await stack.until_stopped()
    return 0 if call["status"] == "completed" else 1
