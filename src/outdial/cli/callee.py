"""``outdial callee``: the simulated callee — a SIP endpoint that answers per a persona file and talks back.

Point a SIP trunk at it (``address: 127.0.0.1:<port>``, UDP) for dry runs of an agent without a phone.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import typer

from outdial.callee import CalleeCall, PersonaError, SimulatedCallee, load_persona
from outdial.cli import app


def describe(call: CalleeCall) -> str:
    """One line per finished call."""
    parts = [f"call {call.index + 1}: {call.caller or '?'} -> {call.dialed or '?'}", call.outcome]
    if call.outcome == "answered":
        said = "; ".join(s.text for s in call.said) or "nothing"
        ended = "the callee" if call.ended_by == "callee" else "the caller"
        parts += [f"agent turns {call.agent_turns}", f"said: {said}", f"hung up by {ended}"]
        if call.dtmf_received:
            parts.append(f"dtmf heard: {''.join(call.dtmf_received)}")
        if call.recording:
            parts.append(f"recording: {call.recording}")
    return " | ".join(parts)


async def run_callee(
    persona_file: Path, host: str, port: int, record_dir: Path | None, calls: int | None
) -> None:
    persona = load_persona(persona_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with SimulatedCallee.start(persona, host, port, record_dir=record_dir) as callee:
        typer.echo(
            f"simulated callee {persona.name!r} ({persona.behaviour}) listening on udp {callee.address}"
        )
        reported = 0
        while not stop.is_set() and (calls is None or reported < calls):
            waiter = asyncio.ensure_future(callee.wait_call(reported))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not waiter.done():
                waiter.cancel()
                break
            call = waiter.result()
            await call.done()
            typer.echo(describe(call))
            reported += 1


@app.command("callee")
def callee_command(
    persona: Path = typer.Option(..., "--persona", help="Persona file (YAML or JSON; see docs/callee.md)."),
    port: int = typer.Option(5080, "--port", min=0, max=65535, help="UDP port for SIP (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    record_dir: Path | None = typer.Option(
        None, "--record-dir", help="Write a stereo WAV per answered call here (left: callee, right: agent)."
    ),
    calls: int | None = typer.Option(None, "--calls", min=1, help="Exit after this many calls."),
) -> None:
    """Run a simulated callee: answers (or not) as the persona says and speaks its replies."""
    try:
        asyncio.run(run_callee(persona, host, port, record_dir, calls))
    except PersonaError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
