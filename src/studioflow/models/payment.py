"""Money (issue 17): payments through a provider, the webhook events already handled, the
wallet of each user with its ledger, a double-entry ledger for what sellers earn, and the
credit packs a client can buy.

Amounts are integer minor units. Every balance has a CHECK that it cannot go below zero
(the sellers' clearing accounts, which are negative by design, say so in a column), and
every change of a balance writes its ledger row in the same transaction under a unique key,
so a retry or a replayed webhook changes nothing twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, TimestampMixin, status_type, utcnow


class PaymentStatus(StrEnum):
    requires_payment = "requires_payment"
    requires_action = "requires_action"
    succeeded = "succeeded"
    failed = "failed"
    refunded = "refunded"


# A payment that may still succeed (its orders are reserved, not yet paid).
OPEN_PAYMENT = (
    PaymentStatus.requires_payment,
    PaymentStatus.requires_action,
    PaymentStatus.failed,
)


class PaymentPurpose(StrEnum):
    orders = "orders"  # a checkout: one or more orders share the payment
    wallet_topup = "wallet_topup"
    credit_pack = "credit_pack"
    deposit = "deposit"  # a booking's deposit or prepayment


class PaymentProvider(StrEnum):
    test = "test"  # the offline TEST MODE page of the embedded default
    stripe = "stripe"
    wallet = "wallet"  # paid from the user's wallet: succeeded at once


class Payment(IdMixin, TimestampMixin, Base):
    """One charge of a user through one provider, for one purpose."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refund_within_amount"
        ),
        # The provider's own id (a PaymentIntent) names one payment of ours.
        UniqueConstraint("provider", "provider_ref"),
        Index("ix_payments_user_created", "user_id", "created_at"),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The client a credit pack is for (the payer's workspace); None for other purposes.
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clients.id", ondelete="SET NULL")
    )
    purpose: Mapped[PaymentPurpose] = mapped_column(
        status_type(PaymentPurpose, name="purpose_known", length=20)
    )
    reference: Mapped[str] = mapped_column(String(200), default="")
    provider: Mapped[PaymentProvider] = mapped_column(
        status_type(PaymentProvider, name="provider_known", length=20)
    )
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(
        status_type(PaymentStatus, name="status_known", length=20),
        default=PaymentStatus.requires_payment,
    )
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    failure_reason: Mapped[str | None] = mapped_column(String(300))
    succeeded_at: Mapped[datetime | None]


class PaymentEvent(IdMixin, Base):
    """A provider's webhook event, stored once: its id is unique, so a replay is a no-op."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(100))
    payment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("payments.id", ondelete="SET NULL")
    )
    outcome: Mapped[str] = mapped_column(String(40), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Wallet(Base):
    """A user's money on the platform, in one currency. Never below zero (a CHECK)."""

    __tablename__ = "wallets"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WalletEntry(IdMixin, Base):
    """The wallet's ledger: every change once (the key is unique); balance = sum of deltas."""

    __tablename__ = "wallet_entries"
    __table_args__ = (Index("ix_wallet_entries_user_created", "user_id", "created_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    delta: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(200), default="")
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerAccount(IdMixin, Base):
    """An account of the double-entry ledger: a seller's earnings, the platform's
    commission, the money received and not yet owed to anyone (clearing), payouts made.

    ``owner`` is the seller's client id as text, or ``platform``: a unique key with no
    NULL in it, so two requests cannot open the same account twice.
    """

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        UniqueConstraint("kind", "owner", "currency"),
        CheckConstraint("may_go_negative OR balance >= 0", name="balance_not_negative"),
    )

    kind: Mapped[str] = mapped_column(String(30))
    owner: Mapped[str] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    may_go_negative: Mapped[bool] = mapped_column(default=False)


class LedgerTransaction(IdMixin, Base):
    """One movement of money: its entries sum to zero; its key makes it happen once."""

    __tablename__ = "ledger_transactions"

    kind: Mapped[str] = mapped_column(String(30))
    reference: Mapped[str] = mapped_column(String(200), default="")
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(IdMixin, Base):
    __tablename__ = "ledger_entries"

    transaction_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ledger_accounts.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)  # signed: + into the account, - out
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditPack(IdMixin, TimestampMixin, Base):
    """Credits for sale, defined by platform admins (seed 001's "get more credits")."""

    __tablename__ = "credit_packs"
    __table_args__ = (
        CheckConstraint("credits > 0", name="credits_positive"),
        CheckConstraint("price_amount > 0", name="price_positive"),
    )

    name: Mapped[str] = mapped_column(String(80))
    credits: Mapped[int]
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    is_active: Mapped[bool] = mapped_column(default=True)


class RefundStatus(StrEnum):
    pending = "pending"  # recorded; the provider is still to be told (a job does, retrying)
    succeeded = "succeeded"
    failed = "failed"


class PaymentRefund(IdMixin, Base):
    """Money given back on a payment: recorded with the change it belongs to, then sent to
    the provider by a job (never inside the transaction), once per key."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_payment_refunds_status_created", "status", "created_at"),
    )

    payment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    amount: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[RefundStatus] = mapped_column(
        status_type(RefundStatus, name="status_known", length=20), default=RefundStatus.pending
    )
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
