"""Platform admins and feature flags (``platform/flags.py``): list them, create or change
one (audited), and what the public ``GET /api/v1/flags`` answers."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity import audit
from studioflow.identity.auth import Principal
from studioflow.identity.context import Context
from studioflow.models import FeatureFlag
from studioflow.platform import flags
from studioflow.platform.runtime import Platform


async def listed(session: AsyncSession) -> list[FeatureFlag]:
    return await flags.rows(session)


async def put(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    context: Context,
    key: str,
    values: dict[str, Any],
) -> FeatureFlag:
    if "client_ids" in values and values["client_ids"] is not None:
        values["client_ids"] = sorted({str(c) for c in values["client_ids"]})
    values = {k: v for k, v in values.items() if v is not None}
    row = await flags.put(platform.db, session, key, values)
    row.updated_by = principal.user_id
    await audit.by_principal(
        session,
        "admin.flag_changed",
        principal,
        context,
        key=key,
        enabled=row.enabled,
        rollout_percent=row.rollout_percent,
        public=row.public,
        clients=len(row.client_ids),
    )
    return row
