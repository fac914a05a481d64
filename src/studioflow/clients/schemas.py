"""Request and response models of the clients API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, computed_field

from studioflow.platform.schemas import Input

ClientName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
RoleName = Annotated[str, StringConstraints(max_length=40)]


class Strict(Input):
    """A request body of the clients API (``Input``: unknown fields refused)."""


class ClientCreate(Strict):
    name: ClientName


class ClientUpdate(Strict):
    name: ClientName | None = None
    images_public_by_default: bool | None = None
    # Hotlink protection: domains allowed to embed this client's images (empty: any site).
    allowed_referrers: list[Annotated[str, StringConstraints(max_length=253)]] | None = None


class ClientOut(BaseModel):
    """A client row as its member sees it: ``role`` is the member's, the rest the row's."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    plan: str
    role: str = ""
    created_at: datetime
    personal_owner_id: uuid.UUID | None = Field(exclude=True)
    settings: dict[str, Any] = Field(exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def personal(self) -> bool:
        return self.personal_owner_id is not None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def images_public_by_default(self) -> bool:
        return bool(self.settings.get("images_public_by_default", True))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def allowed_referrers(self) -> list[str]:
        return list(self.settings.get("allowed_referrers", []))

    @classmethod
    def for_member(cls, client: object, role: str) -> ClientOut:
        return cls.model_validate(client).model_copy(update={"role": role})


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    name: str | None
    role: str
    joined_at: datetime


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: str
    expires_at: datetime
    created_at: datetime


class MembersOut(BaseModel):
    items: list[MemberOut]
    invitations: list[InvitationOut]
    # Members of a team are one page; the field keeps the shape of every list.
    next_cursor: str | None = None


class InviteIn(Strict):
    email: Annotated[str, StringConstraints(max_length=320)]
    role: RoleName = "collaborator"


class RoleIn(Strict):
    role: RoleName


class AcceptIn(Strict):
    token: Annotated[str, StringConstraints(max_length=200)]


class AcceptedOut(BaseModel):
    client_id: uuid.UUID
    role: str


class ActivityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event: str
    actor: str | None = Field(validation_alias=AliasChoices("actor", "actor_label"))
    actor_user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    ip: str | None
    user_agent: str | None
    data: dict[str, Any]
    created_at: datetime
