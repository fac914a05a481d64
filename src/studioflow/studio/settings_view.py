"""What a workspace's settings look like from outside: provider keys as "set, …last4" or
the platform's default, never the key. The API and the settings page show the same view."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from studioflow.identity.auth import Principal, platform_of
from studioflow.studio.schemas import ProviderKeyState, SettingsOut

KEYED_PROVIDERS = ("gemini", "openai")


def settings_out(request: Request, principal: Principal, values: dict[str, Any]) -> SettingsOut:
    site = platform_of(request).site.current
    sealed = values.get("provider_keys") or {}
    hints = values.get("provider_key_hints") or {}
    defaults = {
        "gemini": site.gemini_api_key is not None,
        "openai": site.openai_api_key is not None,
    }
    return SettingsOut(
        client_id=str(principal.client_id),
        images_public_by_default=bool(values.get("images_public_by_default", True)),
        allowed_referrers=list(values.get("allowed_referrers", [])),
        provider_keys={
            name: ProviderKeyState(
                configured=bool(sealed.get(name)),
                hint=hints.get(name) if sealed.get(name) else None,
                platform_default=defaults[name],
            )
            for name in KEYED_PROVIDERS
        },
    )
