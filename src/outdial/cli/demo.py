"""``outdial demo``: the whole product on loopback in one command (what ``make demo`` runs).

Starts the service and a simulated callee, sets up a trunk, an agent and a verified number through
the REST API, places one call, follows it live and prints its transcript, outcome, timings and
recording. ``--serve`` keeps everything running afterwards with a curl tour. The parts live in
``outdial.demo``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from outdial.cli import app

DEFAULT_DATA_DIR = Path(".outdial-demo")


@app.command("demo")
def demo_command(
    data_dir: Path = typer.Option(
        DEFAULT_DATA_DIR, "--data-dir", help="Where the demo keeps SQLite and recordings (emptied first)."
    ),
    port: int | None = typer.Option(None, "--port", help="API port on 127.0.0.1 (default: a free one)."),
    confirm: bool = typer.Option(
        False, "--confirm", help="The callee confirms the appointment instead of moving it."
    ),
    serve: bool = typer.Option(
        False, "--serve", help="Keep serving after the call, with a curl tour (Ctrl-C stops)."
    ),
) -> None:
    """Place one real call end to end on loopback: API → dialer → SIP → a simulated callee."""
    # Imported here: the voice engines are heavy, and every other command would pay for them at start.
    from outdial.demo.client import ApiError
    from outdial.demo.run import DemoOptions, run_demo
    from outdial.demo.stack import DemoError

    console = Console(highlight=False, soft_wrap=True)  # long ids and paths stay on one line
    options = DemoOptions(data_dir=data_dir.resolve(), port=port, confirm=confirm, serve=serve)
    try:
        code = asyncio.run(run_demo(options, console))
    except (DemoError, ApiError) as exc:
        console.print(f"[red]outdial demo: {exc}[/red]")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:  # Ctrl-C
        console.print("\nstopped")
        raise typer.Exit(0 if serve else 130) from None
    except asyncio.CancelledError:  # SIGTERM
        console.print("\nstopped")
        raise typer.Exit(0 if serve else 143) from None
    raise typer.Exit(code)
