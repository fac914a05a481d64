"""Queries of the platform admins' console: every user, client and plan (no tenant scope:
only platform admins reach these, and their guard says so)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from studioflow.models import Client, Membership, Plan, User
from studioflow.platform.pagination import PageParams, build_page, paginate_newest_first
from studioflow.platform.repository import Repository


class AdminRepository(Repository[User]):
    model = User

    async def users(self, params: PageParams) -> tuple[list[User], str | None]:
        return await self.newest_first(select(User), params)

    async def clients(self, params: PageParams) -> tuple[list[tuple[Client, int]], str | None]:
        counts = (
            select(Membership.client_id, func.count().label("members"))
            .group_by(Membership.client_id)
            .subquery()
        )
        statement = paginate_newest_first(
            select(Client, func.coalesce(counts.c.members, 0)).outerjoin(
                counts, counts.c.client_id == Client.id
            ),
            Client.id,
            params,
        )
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
