"""``outdial billing credit``: an operator adds credit to an organization's prepaid balance."""

from __future__ import annotations

import asyncio
import json

import typer
from sqlalchemy import select

from outdial.cli import app
from outdial.config import get_settings
from outdial.store.migrate import migrated
from outdial.store.models import Organization

billing_app = typer.Typer(help="Prepaid billing (operator commands).", no_args_is_help=True)
app.add_typer(billing_app, name="billing")


@billing_app.command("credit")
def credit(
    org: str = typer.Option(..., "--org", help="Organization name."),
    amount_cents: int = typer.Option(..., "--amount-cents", min=1, help="Cents to add."),
    note: str = typer.Option("operator credit", "--note", help="Ledger description."),
) -> None:
    """Add credit without taking a payment (e.g. an invoice paid by bank transfer)."""
    from outdial.billing import service

    async def run() -> dict[str, object]:
        async with migrated(get_settings()) as db, db.transaction() as s:
            row = (await s.execute(select(Organization).where(Organization.name == org))).scalar_one_or_none()
            if row is None:
                raise typer.BadParameter(f"no organization named {org!r}", param_hint="--org")
            entry = await service.credit(s, row.id, amount_cents, note)
            return {"org_id": row.id, "balance_cents": entry.balance_after_cents, "transaction_id": entry.id}

    typer.echo(json.dumps(asyncio.run(run())))
