"""``/v1/billing``: balance, per-minute rate, auto-reload, top-ups and the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from outdial.api.deps import PrincipalDep, SessionDep
from outdial.api.errors import ERROR_RESPONSES, ErrorEnvelope
from outdial.api.pagination import Page, PageParams, page_params, paginate
from outdial.billing import service
from outdial.billing.models import LedgerEntry
from outdial.billing.providers import PaymentProvider, provider_from_settings

router = APIRouter(prefix="/v1/billing", tags=["billing"])

MAX_CENTS = 100_000_000  # one million in the account's currency: a bound against typos


class AutoReload(BaseModel):
    enabled: bool
    threshold_cents: int
    amount_cents: int
    monthly_cap_cents: int | None


class BillingOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "enabled": True,
                    "balance_cents": 2500,
                    "rate_cents_per_minute": 9,
                    "auto_reload": {
                        "enabled": True,
                        "threshold_cents": 500,
                        "amount_cents": 2000,
                        "monthly_cap_cents": 10000,
                    },
                    "payment_provider": "stripe",
                    "payment_method_configured": True,
                }
            ]
        }
    )

    enabled: bool = Field(description="Billing is on when the organization has a per-minute rate.")
    balance_cents: int
    rate_cents_per_minute: int | None
    auto_reload: AutoReload
    payment_provider: str
    payment_method_configured: bool


class AutoReloadPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    threshold_cents: int | None = Field(default=None, ge=0, le=MAX_CENTS)
    amount_cents: int | None = Field(default=None, ge=0, le=MAX_CENTS)
    monthly_cap_cents: int | None = Field(default=None, ge=0, le=MAX_CENTS)


class BillingPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"rate_cents_per_minute": 9, "auto_reload": {"enabled": True, "amount_cents": 2000}}]
        },
    )

    rate_cents_per_minute: int | None = Field(
        default=None, ge=0, le=100_000, description="Cents per started minute; null turns billing off."
    )
    auto_reload: AutoReloadPatch | None = None
    stripe_customer_id: str | None = Field(default=None, max_length=100, pattern=r"^cus_[A-Za-z0-9]+$")
    stripe_payment_method_id: str | None = Field(default=None, max_length=100, pattern=r"^pm_[A-Za-z0-9_]+$")


class TopUp(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount_cents": 2000}]})

    amount_cents: int = Field(ge=100, le=MAX_CENTS, description="At least 100 cents.")


class TransactionOut(BaseModel):
    id: str
    kind: str = Field(description="top_up, auto_reload, credit (operator) or call (a charge).")
    amount_cents: int = Field(description="Positive adds to the balance, negative is a charge.")
    balance_after_cents: int
    call_id: str | None
    billable_minutes: int | None
    description: str | None
    provider_ref: str | None
    created_at: datetime


class TopUpOut(BaseModel):
    transaction: TransactionOut
    balance_cents: int


def get_provider(request: Request) -> PaymentProvider:
    provider: PaymentProvider | None = getattr(request.app.state, "payment_provider", None)
    if provider is None:
        provider = provider_from_settings(request.app.state.settings)
        request.app.state.payment_provider = provider
    return provider


ProviderDep = Annotated[PaymentProvider, Depends(get_provider)]


def _tx(e: LedgerEntry) -> TransactionOut:
    return TransactionOut.model_validate(e, from_attributes=True)


@router.get("", response_model=BillingOut, summary="Balance, rate and auto-reload", responses=ERROR_RESPONSES)
async def get_billing(principal: PrincipalDep, session: SessionDep, provider: ProviderDep) -> dict[str, Any]:
    acct = await service.account(session, principal.org_id)
    await session.commit()
    return service.account_view(acct, provider.name)


@router.patch(
    "",
    response_model=BillingOut,
    summary="Change rate, auto-reload or payment method",
    responses=ERROR_RESPONSES,
)
async def patch_billing(
    body: BillingPatch, principal: PrincipalDep, session: SessionDep, provider: ProviderDep
) -> dict[str, Any]:
    acct = await service.account(session, principal.org_id)
    fields = body.model_fields_set
    if "rate_cents_per_minute" in fields:
        acct.rate_cents_per_minute = body.rate_cents_per_minute
    if body.auto_reload is not None:
        ar = body.auto_reload
        for name in ar.model_fields_set:
            value = getattr(ar, name)
            if name != "monthly_cap_cents" and value is None:
                continue
            setattr(acct, f"auto_reload_{name}", value)
    payment = dict(acct.payment)
    for name in ("stripe_customer_id", "stripe_payment_method_id"):
        if name in fields:
            payment[name] = getattr(body, name)
    acct.payment = payment
    await session.commit()
    await session.refresh(acct)
    return service.account_view(acct, provider.name)


@router.post(
    "/top-up",
    status_code=201,
    response_model=TopUpOut,
    summary="Add to the balance through the payment provider",
    responses={
        **ERROR_RESPONSES,
        402: {"model": ErrorEnvelope, "description": "The card was declined"},
        422: {"model": ErrorEnvelope, "description": "payment_method_required"},
        502: {"model": ErrorEnvelope, "description": "The payment provider is unavailable"},
    },
)
async def top_up(
    body: TopUp, principal: PrincipalDep, session: SessionDep, provider: ProviderDep
) -> TopUpOut:
    entry = await service.top_up(session, principal.org_id, body.amount_cents, provider)
    await session.commit()
    return TopUpOut(transaction=_tx(entry), balance_cents=entry.balance_after_cents)


@router.get(
    "/transactions",
    response_model=Page[TransactionOut],
    summary="The ledger, newest first",
    responses=ERROR_RESPONSES,
)
async def transactions(
    principal: PrincipalDep, session: SessionDep, params: Annotated[PageParams, Depends(page_params)]
) -> Page[TransactionOut]:
    query = (
        select(LedgerEntry)
        .where(LedgerEntry.org_id == principal.org_id)
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
    )
    rows, pagination = await paginate(session, query, params)
    return Page[TransactionOut](data=[_tx(r) for r in rows], pagination=pagination)
