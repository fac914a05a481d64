"""Platform admins and the platform settings (``platform/site_settings.py``): read them all,
change some at once (audited, secrets never in the audit entry), and what the page shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity import audit
from studioflow.identity.auth import Principal
from studioflow.identity.context import Context
from studioflow.platform import site_settings
from studioflow.platform.runtime import Platform


async def described(platform: Platform, session: AsyncSession) -> list[dict[str, Any]]:
    rows = await site_settings.rows(session)
    # Read in this transaction, not from the process's copy: the page shows what is stored.
    stored = {row.key: row.value.get("value") for row in rows}
    site = site_settings.build_site(platform.settings, stored)
    return site_settings.describe(platform.settings, site, rows)


async def change(
    platform: Platform,
    session: AsyncSession,
    principal: Principal,
    context: Context,
    changes: dict[str, Any],
) -> list[str]:
    changed = await site_settings.put(
        platform.site, platform.events, session, changes, user_id=principal.user_id
    )
    for key in changed:
        secret = site_settings.SPECS[key].kind == "secret"
        value = changes[key]
        await audit.by_principal(
            session,
            "admin.setting_changed",
            principal,
            context,
            key=key,
            # A secret's entry says only whether it was set or removed.
            value=("set" if value is not None else "removed") if secret else value,
            reset=value is None,
        )
    return changed
