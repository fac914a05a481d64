"""What payments answer, shaped once for every feature that shows a payment or a pack."""

from __future__ import annotations

from studioflow.models import CreditPack, Payment
from studioflow.payments import service
from studioflow.payments.schemas import PackOut, PaymentOut
from studioflow.platform.runtime import Platform
from studioflow.platform.schemas import Money


def payment_out(platform: Platform, row: Payment, client_secret: str | None = None) -> PaymentOut:
    return PaymentOut(
        id=row.id,
        provider=row.provider.value,
        purpose=row.purpose.value,
        status=row.status.value,
        amount=row.amount,
        currency=row.currency,
        refunded_amount=row.refunded_amount,
        failure_reason=row.failure_reason,
        client_secret=client_secret,
        redirect_url=service.pay_page(platform, row),
        created_at=row.created_at,
    )


def pack_out(row: CreditPack) -> PackOut:
    return PackOut(
        id=row.id,
        name=row.name,
        credits=row.credits,
        price=Money(amount=row.price_amount, currency=row.currency),
        is_active=row.is_active,
    )
