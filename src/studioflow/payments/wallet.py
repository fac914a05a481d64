"""A user's wallet: a balance in one currency and its ledger, changed only together.

As credits are (``billing/credits.py``): every change has a key and happens once; a debit is
a conditional update (``balance + delta >= 0``) with a CHECK behind it, so two payments
racing for the last euro cannot both win. Invariant: balance = sum of the ledger.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import Wallet, WalletEntry
from studioflow.payments.repository import WalletRepository
from studioflow.platform.errors import PaymentRequired, Unprocessable
from studioflow.platform.pagination import PageParams


async def wallet(session: AsyncSession, user_id: uuid.UUID, currency: str) -> Wallet:
    """The user's wallet, opened (empty, in the platform's currency) on first use."""
    wallets = WalletRepository(session)
    found = await wallets.wallet(user_id)
    if found is None:
        await wallets.open(user_id, currency)
        found = await wallets.wallet(user_id, fresh=True)
        assert found is not None
    return found


async def peek(session: AsyncSession, user_id: uuid.UUID) -> Wallet | None:
    """The wallet without opening one (a read session must not write)."""
    return await WalletRepository(session).wallet(user_id)


async def apply(
    session: AsyncSession,
    user_id: uuid.UUID,
    delta: int,
    *,
    currency: str,
    reason: str,
    key: str,
    reference: str = "",
) -> WalletEntry:
    """Change the balance by ``delta`` once per ``key``; refuse to go below zero (402
    ``insufficient_funds``) or to change a wallet of another currency."""
    wallets = WalletRepository(session)
    existing = await wallets.entry(key)
    if existing is not None:
        return existing
    held = await wallet(session, user_id, currency)
    if held.currency != currency:
        raise Unprocessable(
            f"The wallet holds {held.currency}, not {currency}.", code="currency_mismatch"
        )
    try:
        async with session.begin_nested():
            balance = await wallets.change_balance(user_id, delta)
            if balance is None:
                raise PaymentRequired(
                    f"The wallet holds less than {-delta / 100:.2f} {currency}.",
                    code="insufficient_funds",
                    extra={"needed": -delta},
                )
            entry = WalletEntry(
                user_id=user_id,
                delta=delta,
                reason=reason,
                reference=reference,
                idempotency_key=key,
                balance_after=balance,
                created_at=datetime.now(UTC),
            )
            session.add(entry)
            await session.flush()
    except IntegrityError:
        # The same key landed concurrently: the savepoint undid ours; theirs stands.
        raced = await wallets.entry(key)
        if raced is None:
            raise
        return raced
    return entry


async def history(
    session: AsyncSession, user_id: uuid.UUID, params: PageParams
) -> tuple[list[WalletEntry], str | None]:
    return await WalletRepository(session).newest(user_id, params)


async def ledger_sum(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await WalletRepository(session).total(user_id)
