"""Queries of the platform admins' console: every user, client and plan (no tenant scope:
only platform admins reach these, and their guard says so)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from studioflow.models import (
    Client,
    CreditEvent,
    Membership,
    Plan,
    PlatformRole,
    User,
    Workflow,
    WorkflowExecution,
)
from studioflow.platform.pagination import PageParams, build_page, paginate_newest_first
from studioflow.platform.repository import Repository, utc_day


class AdminRepository(Repository[User]):
    model = User

    async def users(
        self, params: PageParams, *, search: str | None = None
    ) -> tuple[list[User], str | None]:
        """Every account, newest first; ``search`` in the email, username or name
        (case-insensitive, % and _ literal)."""
        statement = select(User)
        if search:
            needle = search.lower()
            statement = statement.where(
                or_(
                    *(
                        func.lower(column).contains(needle, autoescape=True)
                        for column in (User.email, User.username, User.first_name, User.last_name)
                    )
                )
            )
        return await self.newest_first(statement, params)

    async def user(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def locked_user(self, user_id: uuid.UUID) -> User | None:
        """The user's row as committed now, locked for the change (PostgreSQL; SQLite
        writers take turns)."""
        found: User | None = await self.session.scalar(
            select(User)
            .where(User.id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return found

    async def active_admins(self) -> int:
        """How many active admins there are, their rows locked until the transaction ends:
        two admins demoting each other at once take turns, so one of them stays (PostgreSQL;
        SQLite's writers take turns anyway)."""
        rows = await self.session.scalars(
            select(User.id)
            .where(User.platform_role == PlatformRole.admin, User.is_active.is_(True))
            .order_by(User.id)  # one order for everyone: crossing changes cannot deadlock
            .with_for_update()
        )
        return len(rows.all())

    async def clients(
        self, params: PageParams, *, search: str | None = None
    ) -> tuple[list[tuple[Client, int]], str | None]:
        """Every client with its member count, newest first; ``search`` in its name."""
        counts = (
            select(Membership.client_id, func.count().label("members"))
            .group_by(Membership.client_id)
            .subquery()
        )
        listed = select(Client, func.coalesce(counts.c.members, 0)).outerjoin(
            counts, counts.c.client_id == Client.id
        )
        if search:
            listed = listed.where(func.lower(Client.name).contains(search.lower(), autoescape=True))
        statement = paginate_newest_first(listed, Client.id, params)
        rows: list[Any] = list((await self.session.execute(statement)).all())
        page, cursor = build_page(rows, params, key=lambda row: row[0].id)
        return [(client, int(n)) for client, n in page], cursor

    async def client(self, client_id: uuid.UUID) -> Client | None:
        return await self.session.get(Client, client_id)

    async def members_of(self, client_id: uuid.UUID) -> int:
        count = await self.session.scalar(
            select(func.count()).select_from(Membership).where(Membership.client_id == client_id)
        )
        return int(count or 0)

    async def plans(self, params: PageParams) -> tuple[list[Plan], str | None]:
        page, cursor = await self.page_by(
            select(Plan),
            [Plan.storage_bytes, Plan.id],
            params,
            key=lambda row: (row[0].storage_bytes, row[0].id),
        )
        return [row[0] for row in page], cursor

    async def plan(self, name: str) -> Plan | None:
        found: Plan | None = await self.session.scalar(select(Plan).where(Plan.name == name))
        return found


# The ledger's reasons the figures read (billing/credits.py and studio/executions.py write them).
SPEND = "execution"
REFUND = "refund"


class FigureRepository(Repository[WorkflowExecution]):
    """The platform's figures over a time range, for the dashboard and finances: each one
    query, each on an index on the table's ``created_at`` (no scan of older history)."""

    model = WorkflowExecution

    async def users(self, start: datetime, end: datetime) -> tuple[int, int]:
        """(every account, accounts created in the range)."""
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.count().filter(User.created_at >= start, User.created_at < end),
                ).select_from(User)
            )
        ).one()
        return int(row[0]), int(row[1] or 0)

    def _ledger_sums(self) -> list[Any]:
        c = CreditEvent
        return [
            func.coalesce(func.sum(c.delta).filter(c.delta > 0, c.reason != REFUND), 0),
            func.coalesce(-func.sum(c.delta).filter(c.reason == SPEND), 0),
            func.coalesce(func.sum(c.delta).filter(c.reason == REFUND), 0),
        ]

    async def runs_by_day(self, start: datetime, end: datetime, dialect: str) -> list[Any]:
        """(day, runs, items done, items failed, provider cost) of each day with runs."""
        e = WorkflowExecution
        day = utc_day(e.created_at, dialect)
        return list(
            (
                await self.session.execute(
                    select(
                        day,
                        func.count(),
                        func.coalesce(func.sum(e.completed), 0),
                        func.coalesce(func.sum(e.failed), 0),
                        func.coalesce(func.sum(e.cost_micro_usd), 0),
                    )
                    .where(e.created_at >= start, e.created_at < end)
                    .group_by(day)
                )
            ).all()
        )

    async def credits_by_day(self, start: datetime, end: datetime, dialect: str) -> list[Any]:
        """(day, granted, spent, refunded) of each day with ledger entries."""
        c = CreditEvent
        day = utc_day(c.created_at, dialect)
        return list(
            (
                await self.session.execute(
                    select(day, *self._ledger_sums())
                    .where(c.created_at >= start, c.created_at < end)
                    .group_by(day)
                )
            ).all()
        )

    async def credits_by_client(self, start: datetime, end: datetime) -> list[Any]:
        """(client id, name, granted, spent, refunded) of each workspace with entries."""
        c = CreditEvent
        totals = (
            select(c.client_id.label("client_id"), *self._ledger_sums())
            .where(c.created_at >= start, c.created_at < end)
            .group_by(c.client_id)
            .subquery()
        )
        return list(
            (
                await self.session.execute(
                    select(totals, Client.name).join(Client, Client.id == totals.c.client_id)
                )
            ).all()
        )

    async def runs_by_client(self, start: datetime, end: datetime) -> dict[uuid.UUID, int]:
        """Each workspace's provider cost of the runs started in the range."""
        e = WorkflowExecution
        rows = await self.session.execute(
            select(e.client_id, func.coalesce(func.sum(e.cost_micro_usd), 0))
            .where(e.created_at >= start, e.created_at < end)
            .group_by(e.client_id)
        )
        return {client_id: int(cost) for client_id, cost in rows.all()}

    async def by_workflow(self, start: datetime, end: datetime, limit: int | None) -> list[Any]:
        """(workflow id, name, workspace name, runs, items done, items failed, credits
        reserved, credits refunded, provider cost) per workflow, most runs first."""
        e = WorkflowExecution
        runs = func.count().label("runs")
        totals = (
            select(
                e.workflow_id.label("workflow_id"),
                runs,
                func.coalesce(func.sum(e.completed), 0).label("completed"),
                func.coalesce(func.sum(e.failed), 0).label("failed"),
                func.coalesce(func.sum(e.credits_reserved), 0).label("reserved"),
                func.coalesce(func.sum(e.credits_refunded), 0).label("refunded"),
                func.coalesce(func.sum(e.cost_micro_usd), 0).label("cost"),
            )
            .where(e.created_at >= start, e.created_at < end, e.workflow_id.is_not(None))
            .group_by(e.workflow_id)
            .order_by(runs.desc(), e.workflow_id)
        )
        if limit is not None:
            totals = totals.limit(limit)
        sub = totals.subquery()
        statement = (
            select(sub, Workflow.name, Client.name)
            .join(Workflow, Workflow.id == sub.c.workflow_id)
            .join(Client, Client.id == Workflow.client_id)
            .order_by(sub.c.runs.desc(), sub.c.workflow_id)
        )
        return list((await self.session.execute(statement)).all())

    async def by_client(self, start: datetime, end: datetime) -> list[Any]:
        """(client id, name, runs, items done, credits kept) of every workspace that ran
        something, busiest first (their number is the active workspaces)."""
        e = WorkflowExecution
        runs = func.count().label("runs")
        sub = (
            select(
                e.client_id.label("client_id"),
                runs,
                func.coalesce(func.sum(e.completed), 0).label("completed"),
                func.coalesce(func.sum(e.credits_reserved - e.credits_refunded), 0).label("kept"),
            )
            .where(e.created_at >= start, e.created_at < end)
            .group_by(e.client_id)
            .subquery()
        )
        statement = (
            select(sub, Client.name)
            .join(Client, Client.id == sub.c.client_id)
            .order_by(sub.c.runs.desc(), sub.c.client_id)
        )
        return list((await self.session.execute(statement)).all())

    async def recent_failures(self, start: datetime, end: datetime, limit: int) -> list[Any]:
        """The latest runs in the range that failed or had failed items, with the workspace."""
        e = WorkflowExecution
        statement = (
            select(e, Client.name)
            .join(Client, Client.id == e.client_id)
            .where(e.created_at >= start, e.created_at < end, e.failed > 0)
            .order_by(e.created_at.desc())
            .limit(limit)
        )
        return list((await self.session.execute(statement)).all())
