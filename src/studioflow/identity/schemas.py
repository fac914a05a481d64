"""Request and response models of the authentication and account API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, computed_field

from studioflow.models.base import INT_MAX
from studioflow.platform.schemas import Input, Moment

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{3,32}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# The length cap is checked by the password policy with a clear message; this only stops
# absurd bodies. Never truncated.
Password = Annotated[str, StringConstraints(max_length=4096)]
EmailText = Annotated[str, StringConstraints(max_length=320)]


class Strict(Input):
    """Unknown fields are refused (``Input``): no mass assignment of platform_role, is_active."""


class RegisterIn(Strict):
    email: EmailText
    password: Password
    username: Username | None = None
    first_name: Name | None = None
    last_name: Name | None = None


class StatusOut(BaseModel):
    status: str


class VerifyEmailIn(Strict):
    email: EmailText
    code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=12)]


class EmailIn(Strict):
    email: EmailText


class LoginIn(Strict):
    identifier: Annotated[str, StringConstraints(max_length=320)]
    password: Password


class RefreshIn(Strict):
    refresh_token: Annotated[str, StringConstraints(max_length=200)] | None = None


class TokenIn(Strict):
    token: Annotated[str, StringConstraints(max_length=200)]


class ResetIn(Strict):
    token: Annotated[str, StringConstraints(max_length=200)]
    password: Password


class UserOut(BaseModel):
    """A user row or a principal's snapshot, read by attribute (``UserOut.model_validate``)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    username: str | None
    first_name: str | None
    last_name: str | None
    platform_role: str
    # Not sent: the time itself is the user's business; ``email_verified`` says enough.
    email_verified_at: datetime | None = Field(default=None, exclude=True)
    created_at: datetime
    delete_after: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class LoginOut(BaseModel):
    user: UserOut
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class MembershipOut(BaseModel):
    client_id: uuid.UUID
    name: str
    role: str
    personal: bool


class MeOut(BaseModel):
    user: UserOut
    memberships: list[MembershipOut]
    platform_role: str
    active_client_id: uuid.UUID
    permissions: list[str]
    auth_method: str


class ProfileUpdate(Strict):
    username: Username | None = None
    first_name: Name | None = None
    last_name: Name | None = None


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    method: str
    ip: str | None
    user_agent: str | None
    current: bool


class DeletionOut(BaseModel):
    status: str
    delete_after: datetime | None


class ApiKeyCreate(Strict):
    key_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    scopes: list[Annotated[str, StringConstraints(max_length=60)]] | None = Field(
        default=None, max_length=50
    )
    rate_limit_per_hour: int | None = Field(default=None, ge=1, le=INT_MAX)
    expires_at: Moment | None = None


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: uuid.UUID
    key_name: str = Field(validation_alias=AliasChoices("key_name", "name"))
    prefix: str
    client_id: uuid.UUID
    scopes: list[str]
    rate_limit_per_hour: int
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    requests_count: int


class ApiKeyCreated(ApiKeyOut):
    api_key: str


class ProfileStats(BaseModel):
    """Figures of the active client (seed 001: job counts, success rate, credit balance)."""

    storage_used: int  # bytes
    executions: int  # batches and single jobs
    executions_completed: int
    executions_failed: int
    images_generated: int
    items_failed: int
    success_rate: float | None  # of finished items; None before any
    credit_balance: int


class ProfileOut(BaseModel):
    user: UserOut
    active_client_id: uuid.UUID
    stats: ProfileStats
