"""Reference data the code relies on, seeded after every migration (idempotent)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.billing.plans import seed_plans
from studioflow.identity.permissions import seed_roles
from studioflow.platform.flags import seed_flags
from studioflow.studio.templates import seed_templates


async def seed_reference_data(session: AsyncSession, *, gemini_configured: bool = False) -> None:
    await seed_roles(session)
    await seed_plans(session)
    await seed_flags(session)
    await seed_templates(session, gemini_configured=gemini_configured)
