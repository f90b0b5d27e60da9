"""``outdial call``: place one call from the shell against a running outdial, and optionally follow it.

Exit codes: 0 the call was accepted (or, with ``--wait``, completed); 1 the API refused it, was not
reachable, or (with ``--wait``) the call ended otherwise (busy, no_answer, failed, canceled) or not
within ``--timeout``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from rich.console import Console

from outdial.cli import app
from outdial.config import Settings
from outdial.demo.client import TERMINAL, ApiError, OutdialClient
from outdial.demo.progress import follow
from outdial.demo.summary import print_summary


def _variables(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected name=value, got {pair!r}", param_hint="--var")
        out[name] = value
    return out


def _metadata(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--metadata") from None
    if not isinstance(value, dict):
        raise typer.BadParameter('a JSON object, e.g. \'{"crm_id": "42"}\'', param_hint="--metadata")
    return value


async def place_call(
    url: str, key: str, body: dict[str, Any], *, wait: bool, within: float, console: Console
) -> tuple[int, dict[str, Any]]:
    """Create the call; with ``wait`` follow it to its end and print its record. (exit code, call)."""
    async with OutdialClient(url, key) as api:
        created = await api.create_call(body)
        if not wait:
            return 0, created
        console.print(f"call {created['id']} {created['status']} → {body['to_number']}")
        call = await follow(api, created["id"], console, within=within, initial=created["status"])
        if call["status"] not in TERMINAL:
            console.print(f"[red]the call has not ended after {within:.0f} s ({call['status']})[/red]")
            return 1, call
        transcript = await api.transcript(call["id"]) if call.get("answered_at") else None
        print_summary(console, call, transcript)
        return (0 if call["status"] == "completed" else 1), call


@app.command("call")
def call_command(
    to: str = typer.Option(..., "--to", help="The number to call (E.164, e.g. +14155550199)."),
    agent: str | None = typer.Option(
        None, "--agent", help="Agent id (default: the caller number's outbound agent)."
    ),
    from_number: str | None = typer.Option(
        None, "--from", help="Caller number: one of your verified VoIP numbers (default: the agent's)."
    ),
    variables: list[str] = typer.Option(
        [], "--var", help="A variable of the agent, name=value (repeatable)."
    ),
    metadata: str | None = typer.Option(None, "--metadata", help="A JSON object echoed back with the call."),
    url: str | None = typer.Option(
        None,
        "--url",
        envvar="OUTDIAL_URL",
        help="outdial's base URL (default: OUTDIAL_PUBLIC_URL, else http://OUTDIAL_HOST:OUTDIAL_PORT).",
    ),
    key: str = typer.Option(..., "--key", envvar="OUTDIAL_API_KEY", help="An API key (od_...)."),
    wait: bool = typer.Option(False, "--wait", help="Follow the call live to its end and print its record."),
    timeout: float = typer.Option(
        900.0, "--timeout", min=1, help="With --wait: give up after this many seconds."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the call as JSON (after it ended, with --wait)."
    ),
) -> None:
    """Place one call through a running outdial (POST /v1/calls)."""
    body: dict[str, Any] = {
        "to_number": to,
        "variables": _variables(variables),
        "metadata": _metadata(metadata),
    }
    if agent is not None:
        body["agent_id"] = agent
    if from_number is not None:
        body["from_number"] = from_number
    base = url or Settings().base_url
    console = Console(highlight=False, soft_wrap=True, quiet=as_json)
    try:
        code, call = asyncio.run(place_call(base, key, body, wait=wait, within=timeout, console=console))
    except ApiError as exc:
        typer.echo(f"outdial call: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(call, indent=2))
    elif not wait:
        typer.echo(f"call {call['id']} {call['status']}")
    raise typer.Exit(code)
