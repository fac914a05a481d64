"""Reference data the code relies on, seeded after every migration (idempotent)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.billing.plans import seed_plans
from studioflow.identity.permissions import seed_roles


async def seed_reference_data(session: AsyncSession) -> None:
    await seed_roles(session)
    await seed_plans(session)
