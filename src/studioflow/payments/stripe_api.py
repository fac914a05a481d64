"""Stripe through the official ``stripe`` package: PaymentIntents for card payments,
refunds, and the verification of webhook events.

Every call is made outside a write transaction (DESIGN.md): an intent is created before the
checkout writes anything, a refund after the refund is recorded. Each carries an idempotency
key made from our ids, so a retried call never charges or refunds twice. Errors come back
as ``ProviderError`` with a code for the answer and no detail of the provider's message
(which can name the account). The API base is a setting, so the tests talk to a local fake
that speaks Stripe's wire format.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import stripe
import structlog

from studioflow.settings import Settings

log = structlog.get_logger("studioflow.stripe")

TOLERANCE_SECONDS = 300
# A signed time ahead of ours by more than this is refused (clocks on NTP agree far closer).
FUTURE_SKEW_SECONDS = 30


class ProviderError(Exception):
    def __init__(self, code: str, *, retry_after: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.retry_after = retry_after


class InvalidSignature(Exception):
    pass


@dataclass(frozen=True)
class Intent:
    id: str
    client_secret: str
    status: str
    amount: int
    currency: str


def _intent(found: stripe.PaymentIntent) -> Intent:
    return Intent(
        id=found.id,
        client_secret=found.client_secret or "",
        status=str(found.status),
        amount=int(found.amount),
        currency=found.currency.upper(),
    )


def _failure(error: stripe.StripeError) -> ProviderError:
    if isinstance(error, stripe.RateLimitError):
        return ProviderError("provider_rate_limited", retry_after=2)
    if isinstance(error, stripe.APIConnectionError):
        return ProviderError("provider_unreachable", retry_after=5)
    if isinstance(error, stripe.AuthenticationError):
        return ProviderError("provider_misconfigured")
    return ProviderError("provider_refused")


class StripeGateway:
    def __init__(self, settings: Settings) -> None:
        assert settings.stripe_secret_key
        self.client = stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses={"api": settings.stripe_api_base.rstrip("/")},
            http_client=stripe.HTTPXClient(),
            max_network_retries=2,
        )

    async def create_intent(
        self, payment_id: uuid.UUID, amount: int, currency: str, purpose: str
    ) -> Intent:
        try:
            found = await self.client.v1.payment_intents.create_async(
                params={
                    "amount": amount,
                    "currency": currency.lower(),
                    "metadata": {"payment_id": str(payment_id), "purpose": purpose},
                    "automatic_payment_methods": {"enabled": True},
                },
                options={"idempotency_key": f"payment:{payment_id}"},
            )
        except stripe.StripeError as error:
            log.warning("stripe.intent_failed", error=type(error).__name__)
            raise _failure(error) from None
        return _intent(found)

    async def retrieve(self, intent_id: str) -> Intent:
        try:
            return _intent(await self.client.v1.payment_intents.retrieve_async(intent_id))
        except stripe.StripeError as error:
            raise _failure(error) from None

    async def cancel(self, intent_id: str) -> None:
        try:
            await self.client.v1.payment_intents.cancel_async(intent_id)
        except stripe.StripeError as error:
            log.warning("stripe.cancel_failed", error=type(error).__name__)

    async def refund(self, intent_id: str, amount: int, key: str) -> str:
        try:
            found = await self.client.v1.refunds.create_async(
                params={"payment_intent": intent_id, "amount": amount},
                options={"idempotency_key": f"refund:{key}"},
            )
        except stripe.StripeError as error:
            log.warning("stripe.refund_failed", error=type(error).__name__)
            raise _failure(error) from None
        return str(found.id)


def verify(payload: bytes, header: str | None, secret: str, *, now: float | None = None) -> Any:
    """The event of a webhook request if ``Stripe-Signature`` proves it came from Stripe:
    HMAC-SHA256 of ``{t}.{body}`` under the endpoint's secret (the package's own check),
    signed within the last ``TOLERANCE_SECONDS`` and not in the future (which the package
    does not check). Called before anything is stored."""
    if not header:
        raise InvalidSignature("no signature")
    now = time.time() if now is None else now
    stamps = [p.partition("=")[2] for p in header.split(",") if p.strip().startswith("t=")]
    try:
        timestamp = int(stamps[0])
    except (IndexError, ValueError):
        raise InvalidSignature("no timestamp") from None
    if timestamp > now + FUTURE_SKEW_SECONDS:
        raise InvalidSignature("from the future")
    if timestamp < now - TOLERANCE_SECONDS:
        raise InvalidSignature("too old")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), header, secret, tolerance=None
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise InvalidSignature("no matching signature") from None
    try:
        return json.loads(payload)
    except ValueError:
        raise InvalidSignature("not JSON") from None
