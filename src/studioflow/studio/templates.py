"""The built-in workflow templates, seeded into ``workflow_templates`` (admins may edit rows)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.models import WorkflowTemplate
from studioflow.studio.repository import TemplateRepository

NANO_BANANA = "Nano Banana — batch images"


def builtin_templates(*, gemini_configured: bool) -> list[dict[str, Any]]:
    return [
        {
            "name": NANO_BANANA,
            "description": "A batch of images from a list of prompts (Gemini 2.5 Flash Image).",
            "kind": "image_batch",
            "provider": "gemini" if gemini_configured else "placeholder",
            "model": "gemini-2.5-flash-image",
            "default_config": {"aspect_ratio": "1:1"},
            "price_credits": 1,
            "provider_cost_micro_usd": 39_000,  # $0.039 per image
            "auto_assign": True,
        }
    ]


async def seed_templates(session: AsyncSession, *, gemini_configured: bool = False) -> None:
    """Insert missing built-in templates; an existing row (maybe edited by an admin) stays."""
    existing = {t.name: t for t in await TemplateRepository(session).by_name()}
    for values in builtin_templates(gemini_configured=gemini_configured):
        row = existing.get(values["name"])
        if row is None:
            session.add(WorkflowTemplate(**values))
        elif gemini_configured and row.name == NANO_BANANA and row.provider == "placeholder":
            # The key arrived after the first start: the flagship moves to the real provider
            # (and not back when the key goes: clients may have their own keys by then).
            row.provider = "gemini"
    await session.flush()
