"""HTTP layer of the studio (API.md, "Studio"): workflows so far."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from studioflow.identity.auth import Authenticator, Principal
from studioflow.models import Workflow, WorkflowTemplate
from studioflow.platform.db import SessionDep
from studioflow.studio import service

router = APIRouter(tags=["studio"])
WorkflowReader = Annotated[Principal, Depends(Authenticator("workflows:read"))]


class WorkflowOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    kind: str
    provider: str
    model: str
    config: dict[str, Any]
    price_credits: int
    placeholder: bool


def workflow_out(workflow: Workflow, template: WorkflowTemplate) -> WorkflowOut:
    return WorkflowOut(
        id=workflow.id,
        name=workflow.name,
        description=template.description,
        kind=template.kind,
        provider=template.provider,
        model=template.model,
        config={**template.default_config, **workflow.config_overrides},
        price_credits=template.price_credits,
        placeholder=template.provider == "placeholder",
    )


@router.get("/api/v1/workflows", response_model=list[WorkflowOut])
async def list_workflows(session: SessionDep, principal: WorkflowReader) -> list[WorkflowOut]:
    """The workflows assigned to the active client."""
    return [workflow_out(w, t) for w, t in await service.list_workflows(session, principal)]


@router.get("/api/v1/workflows/{workflow_id}", response_model=WorkflowOut)
async def get_workflow(
    workflow_id: uuid.UUID, session: SessionDep, principal: WorkflowReader
) -> WorkflowOut:
    """One workflow."""
    return workflow_out(*await service.get_workflow(session, principal, workflow_id))
