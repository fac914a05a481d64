"""Workflow templates and workflows; the offline placeholder provider."""

from __future__ import annotations

import httpx
import pytest

from studioflow.platform.runtime import Platform
from studioflow.studio.templates import NANO_BANANA
from tests.factories import create_account

pytestmark = pytest.mark.usefixtures("mail_worker")


async def test_new_clients_get_the_auto_assigned_workflow(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    owner = await create_account(client, platform, "studio@example.com")
    workflows = (await client.get("/api/v1/workflows", headers=owner.headers)).json()["items"]
    assert [w["name"] for w in workflows] == [NANO_BANANA]
    nano = workflows[0]
    assert nano["provider"] == "placeholder" and nano["placeholder"] is True
    assert nano["price_credits"] == 1 and nano["model"] == "gemini-2.5-flash-image"
    again = (await client.get("/api/v1/workflows", headers=owner.headers)).json()["items"]
    assert [w["id"] for w in again] == [nano["id"]]  # assigned once
    one = await client.get(f"/api/v1/workflows/{nano['id']}", headers=owner.headers)
    assert one.status_code == 200 and one.json()["config"] == {"aspect_ratio": "1:1"}
    other = await create_account(client, platform, "studio-other@example.com")
    assert (
        await client.get(f"/api/v1/workflows/{nano['id']}", headers=other.headers)
    ).status_code == 404


async def test_a_gemini_key_moves_the_flagship_to_gemini(platform: Platform) -> None:
    from sqlalchemy import select

    from studioflow.models import WorkflowTemplate
    from studioflow.studio.templates import seed_templates

    async with platform.db.sessionmaker() as session:
        template = await session.scalar(
            select(WorkflowTemplate).where(WorkflowTemplate.name == NANO_BANANA)
        )
        assert template is not None and template.provider == "placeholder"
        await seed_templates(session, gemini_configured=True)
        await session.refresh(template)
        assert template.provider == "gemini"
        await session.rollback()
