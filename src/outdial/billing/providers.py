"""Payment providers that charge top-ups and auto-reloads: built-in (refuses) and Stripe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from outdial.api.errors import ApiError
from outdial.config import Settings

if TYPE_CHECKING:
    from stripe._base_address import BaseAddresses


class PaymentError(ApiError):
    """The provider refused or failed to charge; carries the provider's reason."""


@dataclass(frozen=True, slots=True)
class Charge:
    reference: str  # the provider's id of the payment (e.g. a PaymentIntent id)
    amount_cents: int


class PaymentProvider(Protocol):
    name: str

    async def charge(
        self, payment: dict[str, Any], amount_cents: int, *, description: str, idempotency_key: str
    ) -> Charge: ...


class BuiltinProvider:
    """No payment processing: balances change only through an operator's `outdial billing credit`."""

    name = "builtin"

    async def charge(
        self, payment: dict[str, Any], amount_cents: int, *, description: str, idempotency_key: str
    ) -> Charge:
        raise PaymentError(
            422,
            "payment_method_required",
            "No payment method is configured for this organization: the operator adds credit with "
            "`outdial billing credit`, or configures the stripe payment provider.",
        )


class StripeProvider:
    """Charges the organization's saved card off-session with a confirmed PaymentIntent."""

    name = "stripe"

    def __init__(self, api_key: str, *, currency: str = "usd", api_base: str | None = None) -> None:
        import stripe

        base: BaseAddresses | None = {"api": api_base} if api_base else None
        self._client = stripe.StripeClient(
            api_key, base_addresses=base, http_client=stripe.HTTPXClient(), max_network_retries=2
        )
        self._errors = stripe
        self.currency = currency

    async def charge(
        self, payment: dict[str, Any], amount_cents: int, *, description: str, idempotency_key: str
    ) -> Charge:
        customer, method = payment.get("stripe_customer_id"), payment.get("stripe_payment_method_id")
        if not customer or not method:
            raise PaymentError(
                422,
                "payment_method_required",
                "Set stripe_customer_id and stripe_payment_method_id with PATCH /v1/billing first.",
            )
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params={
                    "amount": amount_cents,
                    "currency": self.currency,
                    "customer": customer,
                    "payment_method": method,
                    "off_session": True,
                    "confirm": True,
                    "description": description,
                },
                options={"idempotency_key": idempotency_key},
            )
        except self._errors.CardError as exc:
            raise PaymentError(
                402, "payment_failed", f"The card was declined: {exc.user_message or exc}"
            ) from exc
        except self._errors.StripeError as exc:
            raise PaymentError(502, "upstream_unavailable", f"Stripe did not take the charge: {exc}") from exc
        if intent.status != "succeeded":
            raise PaymentError(402, "payment_failed", f"The payment is {intent.status}, not succeeded.")
        return Charge(reference=intent.id, amount_cents=amount_cents)


def provider_from_settings(settings: Settings) -> PaymentProvider:
    if settings.payment_provider == "stripe":
        if not settings.stripe_api_key:
            raise ValueError("OUTDIAL_STRIPE_API_KEY is required with OUTDIAL_PAYMENT_PROVIDER=stripe")
        return StripeProvider(
            settings.stripe_api_key, currency=settings.currency, api_base=settings.stripe_api_base
        )
    if settings.payment_provider != "builtin":
        raise ValueError(f"unknown payment provider {settings.payment_provider!r}: use builtin or stripe")
    return BuiltinProvider()
