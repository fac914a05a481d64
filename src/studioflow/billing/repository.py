"""Queries of billing: credit accounts and their ledger (see platform/repository.py).

The balance changes through one prebuilt conditional UPDATE and its ledger row; both are
here, and ``credits.py`` holds the rules (idempotency keys, savepoints, 402).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, bindparam, cast, func, select, update

from studioflow.models import Client, CreditAccount, CreditEvent, CreditRequest, Plan, User
from studioflow.models.base import INT_MAX, table_of
from studioflow.models.user import PlatformRole
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScoped, Repository

_ACCOUNTS = table_of(CreditAccount)
# Built once (Core): every execute and every refund runs them.
# Summed as BigInteger: on PostgreSQL an Integer sum past the ceiling fails before the
# comparison with it could refuse the change.
_NEXT_BALANCE = cast(_ACCOUNTS.c.balance, BigInteger) + bindparam("p_delta", type_=BigInteger)
_CHANGE_BALANCE = (
    _ACCOUNTS.update()
    .where(
        _ACCOUNTS.c.client_id == bindparam("p_client"),
        _NEXT_BALANCE >= 0,
        # The column's ceiling: a clear refusal on both backends instead of an overflow.
        _NEXT_BALANCE <= INT_MAX,
    )
    .values(balance=_ACCOUNTS.c.balance + bindparam("p_delta"))
    .returning(_ACCOUNTS.c.balance)
)
_RECORD_EVENT = table_of(CreditEvent).insert()


class CreditRepository(ClientScoped[CreditEvent]):
    model = CreditEvent

    async def balances(self, client_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """The balances of those of these clients that have an account (one query)."""
        if not client_ids:
            return {}
        rows = await self.session.execute(
            select(CreditAccount.client_id, CreditAccount.balance).where(
                CreditAccount.client_id.in_(client_ids)
            )
        )
        return {client_id: int(balance) for client_id, balance in rows.all()}

    async def account(self, client_id: uuid.UUID, *, fresh: bool = False) -> CreditAccount | None:
        return await self.session.get(CreditAccount, client_id, populate_existing=fresh)

    async def client(self, client_id: uuid.UUID) -> Client | None:
        return await self.session.get(Client, client_id)

    async def has_account(self, client_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(CreditAccount.client_id).where(CreditAccount.client_id == client_id)
        )
        return found is not None

    async def balance(self, client_id: uuid.UUID) -> int | None:
        value = await self.session.scalar(
            select(CreditAccount.balance).where(CreditAccount.client_id == client_id)
        )
        return int(value) if value is not None else None

    async def event(self, key: str) -> CreditEvent | None:
        return await self.one_or_none(select(CreditEvent).where(CreditEvent.idempotency_key == key))

    async def change_balance(self, client_id: uuid.UUID, delta: int) -> int | None:
        """The new balance, or None when the account is missing or would go below zero."""
        value = (
            await self.session.execute(_CHANGE_BALANCE, {"p_client": client_id, "p_delta": delta})
        ).scalar()
        return int(value) if value is not None else None

    async def record(self, values: dict[str, Any]) -> None:
        await self.session.execute(_RECORD_EVENT, values)

    async def newest(self, client_id: uuid.UUID, *, limit: int) -> list[CreditEvent]:
        return await self.all(
            self.of_client(client_id).order_by(CreditEvent.id.desc()).limit(limit)
        )

    async def total(self, client_id: uuid.UUID) -> int:
        value = await self.session.scalar(
            select(func.coalesce(func.sum(CreditEvent.delta), 0)).where(
                CreditEvent.client_id == client_id
            )
        )
        return int(value or 0)


class PlanRepository(Repository[Plan]):
    """Plans and which clients they give credits to."""

    model = Plan

    async def names(self) -> set[str]:
        return set((await self.session.scalars(select(Plan.name))).all())

    async def of_client(self, client_id: object) -> Plan | None:
        """The client's plan; the free plan when the client names none that exists."""
        plan = await self.one_or_none(
            select(Plan).join(Client, Client.plan == Plan.name).where(Client.id == client_id)
        )
        return plan or await self.one_or_none(select(Plan).where(Plan.name == "free"))

    async def paying_clients(
        self, *, after: uuid.UUID | None, limit: int
    ) -> list[tuple[uuid.UUID, int]]:
        """Clients whose plan grants monthly credits, with the amount, by id after ``after``."""
        statement = (
            select(Client.id, Plan.monthly_credits)
            .join(Plan, Plan.name == Client.plan)
            .where(Plan.name != "free", Plan.monthly_credits > 0)
            .order_by(Client.id)
            .limit(limit)
        )
        if after is not None:
            statement = statement.where(Client.id > after)
        return [(row[0], row[1]) for row in (await self.session.execute(statement)).all()]


class CreditRequestRepository(ClientScoped[CreditRequest]):
    """Asks for credits: a workspace's own, and every workspace's for the platform admins."""

    model = CreditRequest

    async def open_of(self, client_id: uuid.UUID) -> CreditRequest | None:
        return await self.one_or_none(
            self.of_client(client_id).where(CreditRequest.status == "open")
        )

    async def newest_of(self, scope: Any, *, limit: int) -> list[CreditRequest]:
        return await self.all(self.readable(scope).order_by(CreditRequest.id.desc()).limit(limit))

    async def by_id(self, request_id: uuid.UUID) -> CreditRequest | None:
        """Any workspace's request: for platform admins only (the caller has checked)."""
        return await self.session.get(CreditRequest, request_id)

    async def all_workspaces(
        self, params: PageParams, *, status: str | None
    ) -> tuple[list[tuple[CreditRequest, str]], str | None]:
        """Requests of every workspace with the workspace's name, newest first."""
        statement = select(CreditRequest, Client.name).join(
            Client, Client.id == CreditRequest.client_id
        )
        if status is not None:
            statement = statement.where(CreditRequest.status == status)
        rows, cursor = await self.page_by(
            statement, [CreditRequest.id], params, key=lambda row: [row[0].id], descending=True
        )
        return [(row[0], row[1]) for row in rows], cursor

    async def answer(self, request_id: uuid.UUID, values: dict[str, Any]) -> bool:
        """Answer a request only while it is open (one conditional UPDATE): of a grant and a
        decline racing, exactly one changes the row; the other sees it answered."""
        result = await self.session.execute(
            update(CreditRequest)
            .where(CreditRequest.id == request_id, CreditRequest.status == "open")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def fresh(self, request_id: uuid.UUID) -> CreditRequest | None:
        return await self.session.get(CreditRequest, request_id, populate_existing=True)

    async def count_open(self) -> int:
        value = await self.session.scalar(
            select(func.count()).select_from(CreditRequest).where(CreditRequest.status == "open")
        )
        return int(value or 0)

    async def admin_addresses(self) -> list[str]:
        """Where a new request is announced: every active platform admin."""
        rows = await self.session.scalars(
            select(User.email).where(
                User.platform_role == PlatformRole.admin, User.is_active.is_(True)
            )
        )
        return list(rows.all())
