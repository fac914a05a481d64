"""Queries of the platform admins' console: every user, client and plan (no tenant scope:
only platform admins reach these, and their guard says so)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select

from studioflow.models import Client, Membership, Plan, PlatformRole, User
from studioflow.platform.pagination import PageParams, build_page, paginate_newest_first
from studioflow.platform.repository import Repository


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
