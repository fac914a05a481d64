"""Workflows of a client: instances of admin templates (auto-assigned ones included)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.clients import service as clients
from studioflow.identity import audit
from studioflow.identity.auth import Principal
from studioflow.identity.context import Context
from studioflow.models import Client, Workflow, WorkflowRequest, WorkflowTemplate
from studioflow.platform.db import Database
from studioflow.platform.errors import NotFound
from studioflow.platform.pagination import PageParams
from studioflow.platform.security import encrypt_secret
from studioflow.studio.providers import KEY_PURPOSE
from studioflow.studio.repository import (
    FailureRepository,
    RequestRepository,
    TemplateRepository,
    WorkflowRepository,
)


async def assign_auto_templates(session: AsyncSession, client_id: uuid.UUID) -> None:
    """Give the client a workflow for every auto-assigned template it lacks (idempotent)."""
    await WorkflowRepository(session).assign_auto_templates(client_id)


async def list_workflows(
    db: Database, session: AsyncSession, principal: Principal
) -> list[tuple[Workflow, WorkflowTemplate]]:
    """The client's workflows by name. Auto-assigned templates it lacks (a new client, a new
    template) are assigned first, in a short unit of work that also answers."""
    return (await page_of_workflows(db, session, principal, None))[0]


async def page_of_workflows(
    db: Database, session: AsyncSession, principal: Principal, params: PageParams | None
) -> tuple[list[tuple[Workflow, WorkflowTemplate]], str | None]:
    """A page of :func:`list_workflows` (all of them without ``params``)."""
    if await WorkflowRepository(session).missing_auto_templates(principal.client_id):
        async with db.writer_for(session) as writer:
            workflows = WorkflowRepository(writer)
            await workflows.assign_auto_templates(principal.client_id)
            return await workflows.active_with_templates(principal.client_id, params)
    return await WorkflowRepository(session).active_with_templates(principal.client_id, params)


async def workflows_of(
    session: AsyncSession, client_id: uuid.UUID, params: PageParams
) -> tuple[list[tuple[Workflow, WorkflowTemplate]], str | None]:
    """A client's active workflows by name, as they are (a platform admin's console: it
    assigns nothing)."""
    return await WorkflowRepository(session).active_with_templates(client_id, params)


async def get_workflow(
    session: AsyncSession, principal: Principal, workflow_id: uuid.UUID
) -> tuple[Workflow, WorkflowTemplate]:
    found = await WorkflowRepository(session).with_template(principal, workflow_id)
    if found is None:
        raise NotFound("No such workflow.")
    return found


async def assign_workflow(
    session: AsyncSession,
    client_id: uuid.UUID,
    template: WorkflowTemplate,
    name: str | None,
    overrides: dict[str, Any],
) -> Workflow:
    """Give a client a workflow of ``template`` (or switch its existing one back on)."""
    workflows = WorkflowRepository(session)
    existing = await workflows.of_template(client_id, template.id)
    if existing is not None:
        existing.is_active = True
        existing.config_overrides = overrides or existing.config_overrides
        return existing
    workflow = workflows.add(
        Workflow(
            client_id=client_id,
            template_id=template.id,
            name=name or template.name,
            config_overrides=overrides,
        )
    )
    await workflows.flush()
    return workflow


async def page_of_requests(
    session: AsyncSession, principal: Principal, params: PageParams
) -> tuple[list[WorkflowRequest], str | None]:
    return await RequestRepository(session).page(principal, params)


async def latest_requests(session: AsyncSession, principal: Principal) -> list[WorkflowRequest]:
    return await RequestRepository(session).latest(principal)


async def review_queue(
    session: AsyncSession,
) -> tuple[list[WorkflowTemplate], list[WorkflowRequest]]:
    """For platform admins: every template, and the requests waiting for review."""
    return await TemplateRepository(session).by_name(), await RequestRepository(session).pending()


async def create_request(
    session: AsyncSession, principal: Principal, *, title: str, description: str
) -> WorkflowRequest:
    """A client asks the platform for a new workflow; an admin approves or declines it."""
    requests = RequestRepository(session)
    row = requests.add(
        WorkflowRequest(
            client_id=principal.client_id,
            requested_by=principal.user_id,
            title=title,
            description=description,
        )
    )
    await requests.flush()
    return row


async def set_provider_keys(
    secret: str,
    session: AsyncSession,
    principal: Principal,
    keys: dict[str, str | None],
    context: Context,
) -> Client:
    """Store a client's provider keys (None removes one) AES-GCM encrypted, each under a key
    derived for its provider, with a hint of its last four characters; audited."""
    client = await clients.get_client(session, principal)
    values = dict(client.settings)
    sealed = dict(values.get("provider_keys") or {})
    hints = dict(values.get("provider_key_hints") or {})
    for name, key in keys.items():
        if key is None:
            sealed.pop(name, None)
            hints.pop(name, None)
        else:
            key = key.strip()
            sealed[name] = encrypt_secret(secret, KEY_PURPOSE.format(name), key)
            hints[name] = "…" + key[-4:]
        await audit.by_principal(
            session,
            "client.provider_key_removed" if key is None else "client.provider_key_set",
            principal,
            context,
            client_id=client.id,
            provider=name,
        )
    values["provider_keys"], values["provider_key_hints"] = sealed, hints
    client.settings = values  # a new dict, so the JSON column is marked changed
    await session.flush()
    return client


async def failures(
    session: AsyncSession, since: datetime, kind: str
) -> list[tuple[str, int, datetime | None, Any]]:
    """Failed runs (``kind="execution"``) or items (``"item"``) of every workspace since
    ``since``, grouped by error code: (code, count, latest time, the latest row). For the
    platform admins' errors page."""
    repository = FailureRepository(session)
    groups: list[tuple[str, int, datetime | None]] = (
        list(await repository.runs_by_code(since))
        if kind == "execution"
        else await repository.items_by_code(since)
    )
    found = []
    for code, count, latest in groups:
        row = (
            await repository.latest_run(code, since)
            if kind == "execution"
            else await repository.latest_item(code, since)
        )
        found.append((code, count, latest, row))
    return found
