"""Image-generation providers behind one interface, chosen by name with the right key.

A client's own provider key (client settings, encrypted) takes precedence over the
platform's (``STUDIOFLOW_GEMINI_API_KEY`` / ``STUDIOFLOW_OPENAI_API_KEY``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from studioflow.platform.security import decrypt_secret
from studioflow.settings import Settings
from studioflow.studio.providers import placeholder
from studioflow.studio.providers.base import (
    FailureKind,
    Generated,
    GenerationRequest,
    ImageProvider,
    ProviderError,
)

PROVIDER_NAMES = ("placeholder", "gemini", "openai")
KEY_PURPOSE = "provider-key:{}"


class PlaceholderProvider:
    name = "placeholder"
    limit_key = "placeholder"
    rate_limited = False  # offline: nobody to protect
    aspect_ratios = frozenset(placeholder.ASPECT_RATIOS)

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    async def generate(self, request: GenerationRequest) -> Generated:
        if self.delay:
            await asyncio.sleep(self.delay)
        data = await asyncio.to_thread(placeholder.generate, request.prompt, request.aspect_ratio)
        return Generated(data=data, mime_type="image/png", request_id=None)

    async def close(self) -> None:
        return None


ProviderFactory = Callable[[Settings, str | None], ImageProvider]
# Extra providers by name (benchmarks register a zero-latency one).
EXTRA: dict[str, ProviderFactory] = {}


def aspect_ratios_of(name: str) -> frozenset[str]:
    from studioflow.studio.providers.gemini import ASPECT_RATIOS
    from studioflow.studio.providers.openai import SIZES

    return {
        "gemini": ASPECT_RATIOS,
        "openai": frozenset(SIZES),
    }.get(name, frozenset(placeholder.ASPECT_RATIOS))


def client_key(settings: Settings, client_settings: dict[str, Any], provider: str) -> str | None:
    sealed = (client_settings.get("provider_keys") or {}).get(provider)
    if not sealed:
        return None
    try:
        return decrypt_secret(settings.secret, KEY_PURPOSE.format(provider), sealed)
    except ValueError:
        return None  # encrypted under an older secret: as if absent


def build_provider(
    settings: Settings,
    name: str,
    client_settings: dict[str, Any],
    platform_keys: Mapping[str, str | None],
) -> ImageProvider:
    """The provider for an execution; ``ProviderError(AUTH)`` when no key is available.
    ``platform_keys``: the platform's own keys (its settings, else the environment), used
    when the workspace has none."""
    if name in EXTRA:
        return EXTRA[name](settings, client_key(settings, client_settings, name))
    if name == "placeholder":
        return PlaceholderProvider(settings.studio_placeholder_delay_seconds)
    if name in {"gemini", "openai"}:
        key = client_key(settings, client_settings, name) or platform_keys.get(name)
        label = "Gemini" if name == "gemini" else "OpenAI"
        if not key:
            raise ProviderError(
                FailureKind.AUTH,
                f"No {label} API key: add one in the client's settings, or the platform's "
                f"in the admin settings or STUDIOFLOW_{name.upper()}_API_KEY.",
            )
        if name == "gemini":
            from studioflow.studio.providers.gemini import GeminiProvider

            return GeminiProvider(key, base_url=settings.gemini_base_url)
        from studioflow.studio.providers.openai import OpenAIProvider

        return OpenAIProvider(key, base_url=settings.openai_base_url)
    raise ProviderError(FailureKind.INVALID, f"Unknown provider {name!r}.")


__all__ = [
    "EXTRA",
    "PROVIDER_NAMES",
    "FailureKind",
    "Generated",
    "GenerationRequest",
    "ImageProvider",
    "PlaceholderProvider",
    "ProviderError",
    "aspect_ratios_of",
    "build_provider",
]
