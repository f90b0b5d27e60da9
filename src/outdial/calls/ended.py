"""What every call's end sets off, in the transaction that records the terminal status.

Kept out of the dialer so that each domain's rule lives with its domain: billing charges the call,
the outcome is announced, the do-not-call list takes a callee who asked not to be called again.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from outdial.billing.service import charge_call
from outdial.calls.transitions import record_event
from outdial.dnc.service import add as add_to_dnc
from outdial.lifecycle import EventType
from outdial.store.models import Call

log = logging.getLogger("outdial.calls")

# session.info key: org id -> its BillingAccount, or None when it has none, as read in this
# transaction by a caller that ends many calls (the dialer); an org known to have no account is not
# charged (billing is on only once an account exists), which spares a query per call.
BILLING_ACCOUNTS = "outdial.billing_accounts"


def _billing_off(session: AsyncSession, org_id: str) -> bool:
    known = session.info.get(BILLING_ACCOUNTS, {})
    return org_id in known and known[org_id] is None


async def on_call_ended(session: AsyncSession, call: Call) -> None:
    """Charge the ended call (billing on), announce its outcome (``call.analyzed``) and honour an
    opt-out the agent recorded in it."""
    if not _billing_off(session, call.org_id):
        await charge_call(session, call)
    if call.outcome:
        record_event(session, call, EventType.CALL_ANALYZED, data={"outcome": call.outcome})
    if isinstance(call.outcome, dict) and call.outcome.get("opt_out") is True:
        _, created = await add_to_dnc(
            session,
            call.org_id,
            call.to_number,
            reason="asked during a call",
            source="agent",
            call_id=call.id,
        )
        if created:
            log.info(
                "call %s: %s asked not to be called again; added to the do-not-call list",
                call.id,
                call.to_number,
            )
