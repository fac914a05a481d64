"""Request and response models of payments, the wallet and credit packs (API.md, "Commerce")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from studioflow.platform.schemas import Input, Money


class PaymentOut(BaseModel):
    id: uuid.UUID
    provider: str
    purpose: str
    status: str
    amount: int
    currency: str
    refunded_amount: int
    failure_reason: str | None = None
    client_secret: str | None = Field(
        default=None, description="Stripe's, for confirming the card in the browser."
    )
    redirect_url: str | None = Field(
        default=None, description="Where the payer pays: the TEST MODE page in test mode."
    )
    created_at: datetime


class OutcomeIn(Input):
    # Required, but checked after the payment is found: another's id answers 404 first.
    outcome: Literal["succeed", "decline", "requires_action"] | None = Field(
        default=None, description="Required: what the card network answers."
    )


class WalletEntryOut(BaseModel):
    id: uuid.UUID
    delta: int
    reason: str
    reference: str
    balance_after: int
    created_at: datetime


class WalletOut(BaseModel):
    balance: int
    currency: str
    transactions: list[WalletEntryOut]
    next_cursor: str | None = None


class TopupIn(Input):
    amount: int = Field(ge=1, le=10**12, description="In minor units (cents).")


class PackOut(BaseModel):
    id: uuid.UUID
    name: str
    credits: int
    price: Money
    is_active: bool


class PackIn(Input):
    name: str = Field(min_length=1, max_length=80)
    credits: int = Field(ge=1, le=1_000_000)
    price: Money
    is_active: bool = True


class PurchaseIn(Input):
    pack_id: uuid.UUID
    pay_with: Literal["card", "wallet"] = "card"


class PurchaseOut(BaseModel):
    pack: PackOut
    payment: PaymentOut
