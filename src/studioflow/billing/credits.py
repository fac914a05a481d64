"""Credits: a balance per client and its ledger, changed only together, in one transaction.

Every change has an idempotency key: applying the same key twice returns the first event and
changes nothing (a retried job never charges or refunds twice). A debit is a conditional
update (``balance + delta >= 0``), and a CHECK constraint stands behind it, so two debits
racing for the last credit cannot both win. Invariant: balance = sum of the ledger.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, datetime

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.billing.repository import CreditRepository
from studioflow.models import CreditAccount, CreditEvent
from studioflow.models.base import uuid7
from studioflow.platform.db import Database
from studioflow.platform.errors import InsufficientCredits, NotFound, Unprocessable

SIGNUP_CREDITS = 3  # seed 001: three free credits with a new account


async def ensure_account(session: AsyncSession, client_id: uuid.UUID) -> CreditAccount:
    """The client's account; created on first use, with the starting credits (personal and
    team workspaces alike; team creation is limited per user so they cannot be farmed)."""
    credits = CreditRepository(session)
    account = await credits.account(client_id)
    if account is not None:
        return account
    client = await credits.client(client_id)
    if client is None:
        raise NotFound("No such client.")
    try:
        async with session.begin_nested():
            account = CreditAccount(client_id=client_id, balance=0)
            session.add(account)
            await session.flush()
    except IntegrityError:  # created by a concurrent request
        existing = await credits.account(client_id, fresh=True)
        assert existing is not None
        return existing
    reason = "signup" if client.personal_owner_id is not None else "starting_credits"
    await apply(session, client_id, SIGNUP_CREDITS, reason=reason, key=f"signup:{client_id}")
    return account


async def apply(
    session: AsyncSession,
    client_id: uuid.UUID,
    delta: int,
    *,
    reason: str,
    key: str,
    reference: str | None = None,
    actor_user_id: uuid.UUID | None = None,
    fresh: bool = False,
) -> CreditEvent:
    """Change the balance by ``delta`` once per ``key``; refuse to go below zero (402).

    ``fresh`` says the key was just made up (it holds a new id), so there is no earlier event
    to look for: the unique constraint still stands guard.
    """
    credits = CreditRepository(session)
    if not fresh:
        existing = await credits.event(key)
        if existing is not None:
            return existing
    try:
        event = await _apply_once(
            session, client_id, delta, reason, key, reference, actor_user_id, fresh=fresh
        )
        if event is None:  # no account yet: open it (sign-up credits included), then again
            await ensure_account(session, client_id)
            event = await _apply_once(
                session, client_id, delta, reason, key, reference, actor_user_id, fresh=fresh
            )
            assert event is not None
    except IntegrityError:
        if fresh:
            raise  # no savepoint to fall back on (and a fresh key cannot have raced)
        # The same key landed concurrently: the savepoint undid our update; theirs stands.
        raced = await credits.event(key)
        if raced is None:
            raise
        return raced
    # The update ran in SQL: a loaded account object is stale now.
    loaded = session.sync_session.identity_map.get(
        sa_inspect(CreditAccount).identity_key_from_primary_key((client_id,))
    )
    if loaded is not None:
        session.expire(loaded)
    return event


async def _apply_once(
    session: AsyncSession,
    client_id: uuid.UUID,
    delta: int,
    reason: str,
    key: str,
    reference: str | None,
    actor_user_id: uuid.UUID | None,
    *,
    fresh: bool,
) -> CreditEvent | None:
    """One conditional update and its ledger row; None if there is no account. In a savepoint
    unless the key is fresh: only a reused key can meet the unique constraint, and then only
    this change must be undone, not the caller's transaction."""
    async with contextlib.AsyncExitStack() as stack:
        if not fresh:
            await stack.enter_async_context(session.begin_nested())
        credits = CreditRepository(session)
        balance = await credits.change_balance(client_id, delta)
        if balance is None:
            if not await credits.has_account(client_id):
                return None
            if delta > 0:
                raise Unprocessable(
                    "The balance would pass the most credits an account holds.",
                    code="balance_limit",
                )
            raise InsufficientCredits(
                f"This needs {-delta} credits; the balance is lower.", extra={"needed": -delta}
            )
        values = {
            "id": uuid7(),
            "client_id": client_id,
            "delta": delta,
            "reason": reason,
            "reference": reference,
            "idempotency_key": key,
            "balance_after": balance,
            "actor_user_id": actor_user_id,
            "created_at": datetime.now(UTC),
        }
        await credits.record(values)
    return CreditEvent(**values)


async def balance(db: Database, session: AsyncSession, client_id: uuid.UUID) -> int:
    return (await summary(db, session, client_id, limit=0))[0]


async def summary(
    db: Database, session: AsyncSession, client_id: uuid.UUID, *, limit: int = 100
) -> tuple[int, list[CreditEvent]]:
    """The balance and the newest ledger entries. A client's first look opens its account
    (with the sign-up credits of a personal client) in a short unit of work of its own, and
    answers from it (a read session's snapshot would not see it yet)."""
    value = await CreditRepository(session).balance(client_id)
    if value is not None:
        return value, (await ledger(session, client_id, limit=limit) if limit else [])
    async with db.writer_for(session) as writer:
        account = await ensure_account(writer, client_id)
        await writer.refresh(account)
        return account.balance, (await ledger(writer, client_id, limit=limit) if limit else [])


async def peek_balance(session: AsyncSession, client_id: uuid.UUID) -> int | None:
    """The balance without opening an account (None when there is none yet): for the
    shell's notifications, which must not write on every page."""
    return await CreditRepository(session).balance(client_id)


async def ledger(
    session: AsyncSession, client_id: uuid.UUID, *, limit: int = 100
) -> list[CreditEvent]:
    return await CreditRepository(session).newest(client_id, limit=limit)


async def ledger_sum(session: AsyncSession, client_id: uuid.UUID) -> int:
    return await CreditRepository(session).total(client_id)


async def client_exists(session: AsyncSession, client_id: uuid.UUID) -> bool:
    return await CreditRepository(session).client(client_id) is not None


async def recorded(session: AsyncSession, key: str) -> bool:
    """Whether the ledger already has the change of this idempotency key."""
    return await CreditRepository(session).event(key) is not None


async def balances(session: AsyncSession, client_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The balances of many clients at once (those without an account yet are absent)."""
    return await CreditRepository(session).balances(client_ids)
