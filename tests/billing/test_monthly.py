"""Monthly plan credits: once per client and month, only on paid plans."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import update

from studioflow.billing import credits
from studioflow.billing.tasks import grant_monthly_credits
from studioflow.demo import create_admin
from studioflow.models import Client
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings


async def test_paid_plans_get_their_credits_once_a_month(
    committed: tuple[Settings, Platform],
) -> None:
    _, platform = committed
    async with platform.db.transaction() as session:
        pro = await create_admin(
            session,
            email="pro@example.com",
            password_hash=await platform.passwords.hash("a pro passphrase 1"),
        )
        free = await create_admin(
            session,
            email="free@example.com",
            password_hash=await platform.passwords.hash("a free passphrase"),
        )
    async with platform.db.transaction() as session:
        from sqlalchemy import select

        pro_client = await session.scalar(
            select(Client.id).where(Client.personal_owner_id == pro.id)
        )
        free_client = await session.scalar(
            select(Client.id).where(Client.personal_owner_id == free.id)
        )
        assert pro_client and free_client
        await session.execute(update(Client).where(Client.id == pro_client).values(plan="pro"))
        start = {
            c: await credits.balance(platform.db, session, c) for c in (pro_client, free_client)
        }
    november = datetime(2026, 11, 1, 0, 10, tzinfo=UTC)
    assert await grant_monthly_credits(platform, now=november) == 1
    assert await grant_monthly_credits(platform, now=november.replace(day=2)) == 0  # same month
    assert await grant_monthly_credits(platform, now=november.replace(month=12)) == 1
    async with platform.db.transaction() as session:
        assert await credits.balance(platform.db, session, pro_client) == start[pro_client] + 1000
        assert await credits.balance(platform.db, session, free_client) == start[free_client]
        for client_id in (pro_client, free_client):
            assert await credits.balance(
                platform.db, session, client_id
            ) == await credits.ledger_sum(session, client_id)
    assert isinstance(pro_client, uuid.UUID)
