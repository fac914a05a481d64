"""``GET/PUT /api/v1/settings``: the active client's settings, provider API keys included.

A provider key is encrypted (AES-GCM, key derived from the secret, purpose-bound) before it
is stored in the client's settings, and never returned: reads say whether a key is set and
show its last four characters, so people can tell which key it is.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from studioflow.clients import service as clients
from studioflow.identity.auth import platform_of
from studioflow.identity.context import context_of
from studioflow.platform.db import SessionDep
from studioflow.platform.errors import Unprocessable
from studioflow.studio import service
from studioflow.studio.auth import SettingsReader, SettingsUpdater
from studioflow.studio.schemas import SettingsIn, SettingsOut
from studioflow.studio.settings_view import KEYED_PROVIDERS, settings_out

router = APIRouter(tags=["settings"])


@router.get("/api/v1/settings", response_model=SettingsOut)
async def get_settings(
    request: Request, session: SessionDep, principal: SettingsReader
) -> SettingsOut:
    """The active client's settings; provider keys show only whether they are set."""
    client = await clients.get_client(session, principal)
    return settings_out(request, principal, client.settings)


@router.put("/api/v1/settings", response_model=SettingsOut)
async def put_settings(
    body: SettingsIn, request: Request, session: SessionDep, principal: SettingsUpdater
) -> SettingsOut:
    """Change settings. Provider keys are write-only: stored encrypted, never returned."""
    unknown = sorted(set(body.provider_keys) - set(KEYED_PROVIDERS))
    if unknown:
        raise Unprocessable(
            f"Unknown provider: {', '.join(unknown)} (known: {', '.join(KEYED_PROVIDERS)}).",
            code="unknown_provider",
        )
    context = context_of(request)
    client = await clients.get_client(session, principal)
    if body.images_public_by_default is not None or body.allowed_referrers is not None:
        client = await clients.update_settings(
            session,
            principal,
            images_public_by_default=body.images_public_by_default,
            allowed_referrers=body.allowed_referrers,
            context=context,
        )
    if body.provider_keys:
        client = await service.set_provider_keys(
            platform_of(request).settings.secret, session, principal, body.provider_keys, context
        )
    return settings_out(request, principal, client.settings)
