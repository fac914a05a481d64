"""Every query of payments: payments and their provider events, wallets and their ledger,
the double-entry ledger, credit packs (see platform/repository.py).

Balances change through conditional UPDATEs that return the new balance (no row: the
change was refused), beside CHECK constraints that stand behind them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, cast, func, or_, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from studioflow.models import (
    CreditPack,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payment,
    PaymentEvent,
    PaymentRefund,
    PaymentStatus,
    RefundStatus,
    Wallet,
    WalletEntry,
)
from studioflow.models.base import BIGINT_MAX, table_of
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import Repository

# Each dialect's INSERT (ON CONFLICT DO NOTHING is spelt the same, built per dialect).
_INSERTS: dict[str, Any] = {"postgresql": pg_insert, "sqlite": sqlite_insert}

_WALLETS = table_of(Wallet)
_NEXT_WALLET = cast(_WALLETS.c.balance, BigInteger) + bindparam("p_delta", type_=BigInteger)
_CHANGE_WALLET = (
    _WALLETS.update()
    .where(
        _WALLETS.c.user_id == bindparam("p_user"),
        _NEXT_WALLET >= 0,
        _NEXT_WALLET <= BIGINT_MAX,
    )
    .values(balance=_WALLETS.c.balance + bindparam("p_delta"), updated_at=func.now())
    .returning(_WALLETS.c.balance)
)

_ACCOUNTS = table_of(LedgerAccount)
_NEXT_ACCOUNT = cast(_ACCOUNTS.c.balance, BigInteger) + bindparam("p_delta", type_=BigInteger)
_CHANGE_ACCOUNT = (
    _ACCOUNTS.update()
    .where(
        _ACCOUNTS.c.id == bindparam("p_account"),
        or_(_ACCOUNTS.c.may_go_negative, _NEXT_ACCOUNT >= 0),
    )
    .values(balance=_ACCOUNTS.c.balance + bindparam("p_delta"))
    .returning(_ACCOUNTS.c.balance)
)


class _Expiring:
    session: Any

    def _expire(self, model: type[Any], key: uuid.UUID) -> None:
        """An UPDATE ran in SQL: a row of it loaded in this session is stale now."""
        loaded = self.session.sync_session.identity_map.get(
            sa_inspect(model).identity_key_from_primary_key((key,))
        )
        if loaded is not None:
            self.session.expire(loaded)


class PaymentRepository(_Expiring, Repository[Payment]):
    model = Payment

    async def get(self, payment_id: uuid.UUID, *, fresh: bool = False) -> Payment | None:
        found: Payment | None = await self.session.get(Payment, payment_id, populate_existing=fresh)
        return found

    async def of_payer(self, user_id: uuid.UUID, payment_id: uuid.UUID) -> Payment | None:
        """The payment if this user pays it (anyone else's is None: a 404)."""
        return await self.one_or_none(
            select(Payment).where(Payment.id == payment_id, Payment.user_id == user_id)
        )

    async def by_provider_ref(self, provider: str, ref: str) -> Payment | None:
        return await self.one_or_none(
            select(Payment).where(Payment.provider == provider, Payment.provider_ref == ref)
        )

    async def move(
        self,
        payment_id: uuid.UUID,
        from_statuses: Sequence[PaymentStatus],
        to_status: PaymentStatus,
        **values: Any,
    ) -> bool:
        """Change the status if it is one of ``from_statuses``; whether it was (one winner
        among concurrent webhooks and clicks)."""
        result = await self.session.execute(
            update(Payment)
            .where(Payment.id == payment_id, Payment.status.in_(list(from_statuses)))
            .values(status=to_status, updated_at=func.now(), **values)
            .execution_options(synchronize_session=False)
        )
        moved = bool(getattr(result, "rowcount", 0))
        if moved:
            loaded = await self.session.get(Payment, payment_id)
            if loaded is not None:
                await self.session.refresh(loaded)
        return moved

    async def add_refund(self, payment_id: uuid.UUID, amount: int) -> int | None:
        """Add to the refunded amount unless it would pass the payment's; the new total."""
        table = table_of(Payment)
        result = await self.session.execute(
            table.update()
            .where(table.c.id == payment_id, table.c.refunded_amount + amount <= table.c.amount)
            .values(refunded_amount=table.c.refunded_amount + amount, updated_at=func.now())
            .returning(table.c.refunded_amount)
        )
        total = result.scalar_one_or_none()
        self._expire(Payment, payment_id)
        return None if total is None else int(total)

    async def record_event(
        self, provider: str, event_id: str, kind: str, payment_id: uuid.UUID | None
    ) -> bool:
        """Store a provider event once; False when it was already stored (a replay)."""
        table = table_of(PaymentEvent)
        make = _INSERTS[self.session.get_bind().dialect.name]
        result = await self.session.execute(
            make(table)
            .values(
                id=uuid.uuid4(),
                provider=provider,
                event_id=event_id,
                type=kind,
                payment_id=payment_id,
                outcome="",
                received_at=func.now(),
            )
            .on_conflict_do_nothing()
            .returning(table.c.id)
        )
        return result.scalar_one_or_none() is not None

    async def note_event(self, provider: str, event_id: str, outcome: str) -> None:
        await self.session.execute(
            update(PaymentEvent)
            .where(PaymentEvent.provider == provider, PaymentEvent.event_id == event_id)
            .values(outcome=outcome)
        )

    async def events_of(self, payment_id: uuid.UUID) -> list[PaymentEvent]:
        rows = await self.session.scalars(
            select(PaymentEvent)
            .where(PaymentEvent.payment_id == payment_id)
            .order_by(PaymentEvent.received_at)
        )
        return list(rows.all())


class WalletRepository(_Expiring, Repository[WalletEntry]):
    model = WalletEntry

    async def wallet(self, user_id: uuid.UUID, *, fresh: bool = False) -> Wallet | None:
        found: Wallet | None = await self.session.get(Wallet, user_id, populate_existing=fresh)
        return found

    async def open(self, user_id: uuid.UUID, currency: str) -> None:
        """Create the wallet unless it exists (two first top-ups cannot make two)."""
        make = _INSERTS[self.session.get_bind().dialect.name]
        await self.session.execute(
            make(_WALLETS)
            .values(user_id=user_id, currency=currency, balance=0, updated_at=func.now())
            .on_conflict_do_nothing()
        )

    async def change_balance(self, user_id: uuid.UUID, delta: int) -> int | None:
        result = await self.session.execute(_CHANGE_WALLET, {"p_user": user_id, "p_delta": delta})
        value = result.scalar_one_or_none()
        self._expire(Wallet, user_id)
        return None if value is None else int(value)

    async def entry(self, key: str) -> WalletEntry | None:
        return await self.one_or_none(select(WalletEntry).where(WalletEntry.idempotency_key == key))

    async def newest(
        self, user_id: uuid.UUID, params: PageParams
    ) -> tuple[list[WalletEntry], str | None]:
        return await self.newest_first(
            select(WalletEntry).where(WalletEntry.user_id == user_id), params
        )

    async def total(self, user_id: uuid.UUID) -> int:
        value = await self.session.scalar(
            select(func.coalesce(func.sum(WalletEntry.delta), 0)).where(
                WalletEntry.user_id == user_id
            )
        )
        return int(value or 0)


class LedgerRepository(Repository[LedgerTransaction]):
    model = LedgerTransaction

    async def account(self, kind: str, owner: str, currency: str) -> LedgerAccount | None:
        found: LedgerAccount | None = await self.session.scalar(
            select(LedgerAccount).where(
                LedgerAccount.kind == kind,
                LedgerAccount.owner == owner,
                LedgerAccount.currency == currency,
            )
        )
        return found

    async def open_account(
        self, kind: str, owner: str, currency: str, *, may_go_negative: bool
    ) -> uuid.UUID:
        """The account's id, opening it first if needed (a concurrent opening is harmless)."""
        make = _INSERTS[self.session.get_bind().dialect.name]
        await self.session.execute(
            make(_ACCOUNTS)
            .values(
                id=uuid.uuid4(),
                kind=kind,
                owner=owner,
                currency=currency,
                balance=0,
                may_go_negative=may_go_negative,
            )
            .on_conflict_do_nothing()
        )
        found = await self.session.scalar(
            select(LedgerAccount.id).where(
                LedgerAccount.kind == kind,
                LedgerAccount.owner == owner,
                LedgerAccount.currency == currency,
            )
        )
        assert found is not None
        return found

    async def change(self, account_id: uuid.UUID, delta: int) -> int | None:
        result = await self.session.execute(
            _CHANGE_ACCOUNT, {"p_account": account_id, "p_delta": delta}
        )
        value = result.scalar_one_or_none()
        return None if value is None else int(value)

    async def transaction(self, key: str) -> LedgerTransaction | None:
        return await self.one_or_none(
            select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)
        )

    async def record(self, transaction: LedgerTransaction, entries: list[LedgerEntry]) -> None:
        self.session.add(transaction)
        await self.session.flush()
        self.session.add_all(entries)
        await self.session.flush()

    async def accounts_of(self, owner: str) -> list[LedgerAccount]:
        rows = await self.session.scalars(
            select(LedgerAccount).where(LedgerAccount.owner == owner).order_by(LedgerAccount.kind)
        )
        return list(rows.all())

    async def all_accounts(self) -> list[LedgerAccount]:
        rows = await self.session.scalars(select(LedgerAccount).order_by(LedgerAccount.kind))
        return list(rows.all())

    async def sums_by_account(self) -> dict[uuid.UUID, int]:
        rows = await self.session.execute(
            select(LedgerEntry.account_id, func.sum(LedgerEntry.amount)).group_by(
                LedgerEntry.account_id
            )
        )
        return {account_id: int(total) for account_id, total in rows.all()}

    async def unbalanced_transactions(self) -> list[uuid.UUID]:
        """Transactions whose entries do not sum to zero (there must be none)."""
        rows = await self.session.scalars(
            select(LedgerEntry.transaction_id)
            .group_by(LedgerEntry.transaction_id)
            .having(func.sum(LedgerEntry.amount) != 0)
        )
        return list(rows.all())

    async def entries_of(
        self, account_id: uuid.UUID, *, limit: int = 50
    ) -> list[tuple[LedgerEntry, LedgerTransaction]]:
        rows = await self.session.execute(
            select(LedgerEntry, LedgerTransaction)
            .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
            .where(LedgerEntry.account_id == account_id)
            .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
            .limit(limit)
        )
        return [(entry, transaction) for entry, transaction in rows.all()]

    async def earned_since(self, account_id: uuid.UUID, since: datetime) -> int:
        value = await self.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account_id == account_id,
                LedgerEntry.created_at >= since,
                LedgerEntry.amount > 0,
            )
        )
        return int(value or 0)


class CreditPackRepository(Repository[CreditPack]):
    model = CreditPack

    async def get(self, pack_id: uuid.UUID) -> CreditPack | None:
        found: CreditPack | None = await self.session.get(CreditPack, pack_id)
        return found

    async def listed(self, *, active_only: bool) -> list[CreditPack]:
        statement = select(CreditPack).order_by(CreditPack.price_amount, CreditPack.credits)
        if active_only:
            statement = statement.where(CreditPack.is_active.is_(True))
        return await self.all(statement)


class RefundRepository(Repository[PaymentRefund]):
    model = PaymentRefund

    async def by_key(self, key: str) -> PaymentRefund | None:
        return await self.one_or_none(
            select(PaymentRefund).where(PaymentRefund.idempotency_key == key)
        )

    async def get(self, refund_id: uuid.UUID) -> PaymentRefund | None:
        found: PaymentRefund | None = await self.session.get(PaymentRefund, refund_id)
        return found

    async def pending(self, before: datetime, *, limit: int = 100) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(PaymentRefund.id)
            .where(PaymentRefund.status == RefundStatus.pending, PaymentRefund.created_at < before)
            .order_by(PaymentRefund.created_at)
            .limit(limit)
        )
        return list(rows.all())

    async def of_payment(self, payment_id: uuid.UUID) -> list[PaymentRefund]:
        return await self.all(
            select(PaymentRefund)
            .where(PaymentRefund.payment_id == payment_id)
            .order_by(PaymentRefund.created_at)
        )
