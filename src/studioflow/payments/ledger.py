"""The double-entry ledger of what sellers earn (issue 17).

Every movement is a transaction of entries that sum to zero, posted once per key. Accounts:

- ``clearing`` (per currency, the platform's; may go negative): money buyers paid that is
  not yet anyone's; a paid order takes it out, a refund puts it back.
- ``seller_earnings`` (per seller and currency): what the platform owes the seller; never
  below zero, so a refund larger than what is left is refused.
- ``commission`` (per currency, the platform's): the platform's share.
- ``payouts`` (per currency, the platform's): what admins paid out to sellers (Stripe
  Connect would post here too).

A balance is the sum of its entries, and ``verify()`` checks it and the zero sums.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import LedgerAccount, LedgerEntry, LedgerTransaction
from studioflow.models.base import uuid7
from studioflow.payments.repository import LedgerRepository
from studioflow.platform.errors import Conflict

PLATFORM = "platform"
CLEARING = "clearing"
SELLER_EARNINGS = "seller_earnings"
COMMISSION = "commission"
PAYOUTS = "payouts"
_NEGATIVE_ALLOWED = {CLEARING}


@dataclass(frozen=True)
class Leg:
    kind: str
    owner: str
    amount: int  # signed: + into the account


def commission_of(amount: int, bps: int) -> int:
    """The platform's share of ``amount`` (rounded down: the seller keeps the odd cent)."""
    return amount * bps // 10_000


async def post(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    currency: str,
    legs: list[Leg],
    reference: str = "",
    actor_user_id: uuid.UUID | None = None,
) -> LedgerTransaction:
    """Post a transaction once per ``key``. An account that may not go negative and would
    answers 409 ``insufficient_balance`` and nothing of the transaction stays."""
    if sum(leg.amount for leg in legs) != 0:
        raise ValueError("a ledger transaction's entries must sum to zero")
    ledger = LedgerRepository(session)
    existing = await ledger.transaction(key)
    if existing is not None:
        return existing
    async with session.begin_nested():
        transaction = LedgerTransaction(
            id=uuid7(),
            kind=kind,
            reference=reference,
            idempotency_key=key,
            actor_user_id=actor_user_id,
        )
        entries = []
        # One order of locking for every transaction: two postings touching the same
        # accounts wait for each other instead of deadlocking (PostgreSQL row locks).
        for leg in sorted(legs, key=lambda leg: (leg.kind, leg.owner)):
            if leg.amount == 0:
                continue
            account_id = await ledger.open_account(
                leg.kind, leg.owner, currency, may_go_negative=leg.kind in _NEGATIVE_ALLOWED
            )
            if await ledger.change(account_id, leg.amount) is None:
                raise Conflict(
                    "The seller's balance is lower than this needs.",
                    code="insufficient_balance",
                )
            entries.append(
                LedgerEntry(transaction_id=transaction.id, account_id=account_id, amount=leg.amount)
            )
        await ledger.record(transaction, entries)
    return transaction


async def balance(session: AsyncSession, kind: str, owner: str, currency: str) -> int:
    account = await LedgerRepository(session).account(kind, owner, currency)
    return 0 if account is None else account.balance


async def accounts_of(session: AsyncSession, owner: str) -> list[LedgerAccount]:
    return await LedgerRepository(session).accounts_of(owner)


async def entries_of(
    session: AsyncSession, account_id: uuid.UUID, *, limit: int = 50
) -> list[tuple[LedgerEntry, LedgerTransaction]]:
    return await LedgerRepository(session).entries_of(account_id, limit=limit)


async def verify(session: AsyncSession) -> list[str]:
    """What is wrong with the ledger (nothing, normally): every balance equals the sum of
    its entries, every transaction sums to zero."""
    ledger = LedgerRepository(session)
    problems = []
    sums = await ledger.sums_by_account()
    for account in await ledger.all_accounts():
        if account.balance != sums.get(account.id, 0):
            problems.append(
                f"{account.kind}/{account.owner}/{account.currency}: balance {account.balance}"
                f" but entries sum to {sums.get(account.id, 0)}"
            )
    for transaction_id in await ledger.unbalanced_transactions():
        problems.append(f"transaction {transaction_id} does not sum to zero")
    return problems
