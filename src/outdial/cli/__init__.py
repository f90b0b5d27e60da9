"""The ``outdial`` command. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

import os

import typer

app = typer.Typer(
    name="outdial",
    help="Outbound phone calls handled by AI voice agents, over your own SIP trunk.",
    no_args_is_help=True,
    add_completion=False,
)


def _register() -> None:
    # Imported for their side effect of adding commands to `app`; one module per command group.
    import importlib

    for name in ("server", "keys", "demo", "callee", "calls", "billing"):
        try:
            importlib.import_module(f"outdial.cli.{name}")
        except ModuleNotFoundError as exc:  # a command group not built yet
            if exc.name != f"outdial.cli.{name}":
                raise


def single_threaded_blas() -> None:
    """The media clock's per-slot matrix products are small and run every 20 ms on the event loop's
    thread: BLAS worker threads would only spin against it. Set before numpy is first imported."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    single_threaded_blas()
    _register()
    app()
