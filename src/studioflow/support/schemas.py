"""Request and response models of support tickets (API.md, "Admin, support, flags")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from studioflow.platform.schemas import Input

Category = Literal["billing", "workflow", "bug", "other"]
Priority = Literal["low", "normal", "high", "urgent"]
Status = Literal["open", "in_progress", "waiting_on_client", "resolved", "closed"]


class TicketIn(Input):
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)
    category: Category = "other"
    priority: Priority = "normal"
    execution_id: uuid.UUID | None = None
    image_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10)


class MessageIn(Input):
    # Not empty: checked once the ticket is found, so another workspace's is a 404 first.
    body: str = Field(default="", max_length=20_000)
    image_ids: list[uuid.UUID] = Field(default_factory=list, max_length=10)


class StaffMessageIn(MessageIn):
    # An internal note: only platform admins ever see it.
    internal: bool = False


class TicketUpdate(Input):
    status: Status | None = None
    priority: Priority | None = None
    assignee_id: uuid.UUID | None = None


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    author: str = Field(validation_alias="author_label")
    staff: bool
    body: str
    image_ids: list[uuid.UUID]
    created_at: datetime


class StaffMessageOut(MessageOut):
    internal: bool


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: uuid.UUID
    subject: str
    category: str
    priority: str
    status: str
    execution_id: uuid.UUID | None
    assignee_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None


class TicketDetail(TicketOut):
    messages: list[MessageOut]


class StaffTicketOut(TicketOut):
    client_name: str


class StaffTicketDetail(StaffTicketOut):
    messages: list[StaffMessageOut]
