"""Request and response models of the admin API (API.md, "Admin")."""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, computed_field

from studioflow.models.base import BIGINT_MAX, INT_MAX
from studioflow.platform.schemas import Input


class AdminUser(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    username: str | None
    first_name: str | None = None
    last_name: str | None = None
    platform_role: str
    email_verified_at: datetime | None = Field(exclude=True)
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    delete_after: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class AdminClient(BaseModel):
    """A client row; ``members`` is counted beside it (``with_members``)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    plan: str
    personal_owner_id: uuid.UUID | None = Field(exclude=True)
    members: int = 0
    credits: int | None = Field(default=None, description="Null until its account opens.")
    storage_bytes: int | None = None
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def personal(self) -> bool:
        return self.personal_owner_id is not None

    @classmethod
    def with_members(cls, client: object, members: int) -> AdminClient:
        return cls.model_validate(client).model_copy(update={"members": int(members)})


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    uploads_per_day: int
    api_requests_per_hour: int
    storage_bytes: int
    bandwidth_bytes_month: int
    monthly_credits: int
    max_upload_bytes: int
    max_pixels: int


class PlanUpdate(Input):
    uploads_per_day: int | None = Field(default=None, ge=0, le=INT_MAX)
    api_requests_per_hour: int | None = Field(default=None, ge=0, le=INT_MAX)
    storage_bytes: int | None = Field(default=None, ge=0, le=BIGINT_MAX)
    bandwidth_bytes_month: int | None = Field(default=None, ge=0, le=BIGINT_MAX)
    monthly_credits: int | None = Field(default=None, ge=0, le=INT_MAX)
    max_upload_bytes: int | None = Field(default=None, ge=1024, le=BIGINT_MAX)
    max_pixels: int | None = Field(default=None, ge=1, le=BIGINT_MAX)


class ClientPlanIn(Input):
    plan: str = Field(max_length=40)


class JobOut(BaseModel):
    """A job as the console shows it: never its arguments."""

    key: str
    function: str
    status: str
    attempts: int
    retries: int
    queued_at: datetime | None
    scheduled_at: datetime | None
    started_at: datetime | None
    # The end of the last error (a traceback's last lines), at most 4,000 characters.
    error: str
    abortable: bool


class QueueOut(BaseModel):
    name: str
    saq_name: str
    workers: int
    queued: int
    active: int
    scheduled: int
    jobs: list[JobOut]


class QueuesOut(BaseModel):
    queues: list[QueueOut]


Role = Literal["admin", "user"]


class AdminUserIn(Input):
    """An account an admin makes; the address gets a link to choose a password."""

    email: str = Field(max_length=320)
    username: str | None = Field(
        default=None, min_length=3, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$"
    )
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    platform_role: Role = "user"


class AdminUserUpdate(Input):
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    username: str | None = Field(default=None, max_length=40, pattern=r"^$|^[A-Za-z0-9_.-]{3,40}$")
    platform_role: Role | None = None
    # false blocks the account (sessions end at once, keys are refused); true unblocks it.
    is_active: bool | None = None


class AdminMembership(BaseModel):
    client_id: uuid.UUID
    name: str
    role: str
    personal: bool


class AdminSession(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    method: str
    ip: str | None
    user_agent: str | None
    created_at: datetime
    last_used_at: datetime


class AdminApiKey(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    client_id: uuid.UUID
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class AdminUserDetail(AdminUser):
    memberships: list[AdminMembership]
    sessions: list[AdminSession]
    api_keys: list[AdminApiKey]


class DeletionOut(BaseModel):
    # When the account goes; null when it is gone already (?now=true).
    delete_after: datetime | None


class AdminClientOverview(BaseModel):
    id: uuid.UUID
    name: str
    plan: str
    personal: bool
    created_at: datetime
    members: int
    credits: int
    storage_used: int
    executions_30d: int
    items_completed_30d: int
    items_failed_30d: int
    # Items completed of those finished in the last 30 days; null with none finished.
    success_rate_30d: float | None


class AdminMemberIn(Input):
    """The account by id (API.md) or, as the console's form sends it, by email address."""

    user_id: uuid.UUID | None = None
    email: str | None = Field(default=None, max_length=320)
    role: Literal["owner", "collaborator"] = "collaborator"


class AdminRoleIn(Input):
    role: Literal["owner", "collaborator"]


class FlagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key: str
    enabled: bool
    description: str
    public: bool
    rollout_percent: int
    client_ids: list[uuid.UUID]
    updated_at: datetime


class FlagIn(Input):
    """A flag's values (PUT: create or change; left out, a value stays as it is)."""

    enabled: bool
    description: str | None = Field(default=None, max_length=300)
    public: bool | None = None
    rollout_percent: int | None = Field(default=None, ge=0, le=100)
    client_ids: list[uuid.UUID] | None = Field(default=None, max_length=1000)


class PublicFlagsOut(BaseModel):
    flags: dict[str, bool]


class ErrorGroup(BaseModel):
    kind: Literal["execution", "item", "request"]
    # The error code of runs and items; the exception's type for requests.
    code: str
    count: int
    latest_at: datetime | None
    client_id: uuid.UUID | None = None
    execution_id: uuid.UUID | None = None
    error: str | None = None
    method: str | None = None
    route: str | None = None
    request_id: str | None = None


class ErrorsOut(BaseModel):
    since: datetime
    groups: list[ErrorGroup]


class SettingOut(BaseModel):
    """One platform setting. A secret's ``value`` is always null: ``is_set`` and ``hint``
    (its last characters) say what is there."""

    key: str
    kind: str
    label: str
    help: str
    value: bool | int | str | None
    default: bool | int | str | None
    overridden: bool
    updated_at: datetime | None
    is_set: bool | None = None
    hint: str | None = None
    min: int | None = None
    max: int | None = None


class SettingsOut(BaseModel):
    settings: list[SettingOut]


class SettingsIn(RootModel[dict[str, bool | int | str | None]]):
    """The settings to change, by key (others stay): a value sets it, null returns it to
    its default (a provider key: removes it)."""


class Money(BaseModel):
    amount: Decimal = Field(description="In the currency's units, as a decimal string.")
    currency: str


class Cards(BaseModel):
    users: int
    new_users: int
    active_clients: int = Field(description="Workspaces that started a run in the range.")
    executions: int
    items_completed: int
    items_failed: int
    success_rate: float | None = Field(description="Items done of items finished, 0 to 1.")
    credits_spent: int = Field(description="Credits spent less credits refunded (the ledger).")
    provider_cost_usd: Decimal
    revenue: Money


class TrendDay(BaseModel):
    date: dt.date
    executions: int
    items_completed: int
    items_failed: int
    success_rate: float | None
    credits_spent: int
    revenue: Decimal


class TopWorkflow(BaseModel):
    workflow_id: uuid.UUID
    name: str
    client_name: str
    executions: int
    items_completed: int
    items_failed: int
    success_rate: float | None
    credits_spent: int


class TopClient(BaseModel):
    client_id: uuid.UUID
    name: str
    executions: int
    items_completed: int
    credits_spent: int


class RecentFailure(BaseModel):
    execution_id: uuid.UUID
    client_id: uuid.UUID
    client_name: str
    status: str
    total: int
    items_failed: int
    error_code: str | None
    error: str | None
    created_at: datetime


class AnalyticsOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: dt.date = Field(alias="from")
    to: dt.date
    cards: Cards
    trend: list[TrendDay]
    top_workflows: list[TopWorkflow]
    top_clients: list[TopClient]
    recent_failures: list[RecentFailure]


class FinanceRow(BaseModel):
    key: str = Field(description="The day, the workspace's id or the workflow's id.")
    label: str
    credits_granted: int | None = Field(description="Null by workflow: grants are not a run's.")
    credits_spent: int
    credits_refunded: int
    provider_cost_usd: Decimal
    revenue: Decimal
    currency: str
    margin: Decimal | None = Field(
        description="Revenue less provider cost; null when the credit price is not in USD."
    )


class FinancesOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: dt.date = Field(alias="from")
    to: dt.date
    group_by: str
    rows: list[FinanceRow]
    totals: FinanceRow
