"""Request and response models of the studio API (API.md, "Studio")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from studioflow.models import BatchResult, Workflow, WorkflowExecution, WorkflowTemplate
from studioflow.platform.schemas import Input


class ExecuteConfig(Input):
    aspect_ratio: str | None = Field(default=None, max_length=10)


class ExecuteIn(Input):
    # Lengths are checked by the batch parser (clear codes); the body size limit bounds them.
    prompts: list[str] | None = None
    prompts_text: str | None = None
    reference_image_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    config: ExecuteConfig = Field(default_factory=ExecuteConfig)


class ExecuteOut(BaseModel):
    execution_id: uuid.UUID
    status: str
    total: int
    credits_reserved: int


class Progress(BaseModel):
    total: int
    completed: int
    failed: int
    cancelled: int


class OutputData(BaseModel):
    successful: int
    failed: int
    total: int


class Money(BaseModel):
    amount: int
    currency: str = "USD"


class Cost(BaseModel):
    credits: int
    provider: Money
    provider_micro_usd: int


class ExecutionOut(BaseModel):
    """An execution read straight from its row; the counters become the nested summaries."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    workflow_id: uuid.UUID | None
    kind: str
    status: str
    provider: str
    model: str
    config: dict[str, Any]
    credits_reserved: int
    credits_refunded: int
    error: str | None
    error_code: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    # Read from the row, answered only through the summaries below.
    total: int = Field(exclude=True)
    completed: int = Field(exclude=True)
    failed: int = Field(exclude=True)
    cancelled: int = Field(exclude=True)
    cost_micro_usd: int = Field(exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def placeholder(self) -> bool:
        return self.provider == "placeholder"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def progress(self) -> Progress:
        return Progress(
            total=self.total, completed=self.completed, failed=self.failed, cancelled=self.cancelled
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def output_data(self) -> OutputData:
        return OutputData(
            successful=self.completed, failed=self.failed + self.cancelled, total=self.total
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost(self) -> Cost:
        return Cost(
            credits=self.credits_reserved - self.credits_refunded,
            # Integer cents, rounded half up, from integer micro-dollars.
            provider=Money(amount=(self.cost_micro_usd + 5_000) // 10_000),
            provider_micro_usd=self.cost_micro_usd,
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return round((self.completed_at - self.started_at).total_seconds(), 3)


def execution_out(execution: WorkflowExecution) -> ExecutionOut:
    return ExecutionOut.model_validate(execution)


class BatchResultOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    index: int
    prompt: str
    aspect_ratio: str
    status: str
    result_url: str | None = None
    image_id: uuid.UUID | None
    error: str | None
    error_code: str | None
    attempts: int
    provider_request_id: str | None
    cost_micro_usd: int
    completed_at: datetime | None
    # When the result image is deleted unless kept (the studio results' TTL); null: never.
    expires_at: datetime | None = None


def batch_result_out(
    item: BatchResult, result_url: str | None, expires_at: datetime | None = None
) -> BatchResultOut:
    """The stored item plus its signed URL, which only the caller can mint, and when its
    image expires."""
    return BatchResultOut.model_validate(item).model_copy(
        update={"result_url": result_url, "expires_at": expires_at}
    )


class JobIn(Input):
    prompt: str = Field(min_length=1)
    workflow_id: uuid.UUID | None = None
    aspect_ratio: str | None = Field(default=None, max_length=10)
    reference_image_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class JobOut(BaseModel):
    id: uuid.UUID
    status: str
    prompt: str
    workflow_id: uuid.UUID | None
    aspect_ratio: str
    credits_reserved: int
    credits_refunded: int
    attempts: int
    error: str | None
    error_code: str | None
    image_id: uuid.UUID | None
    download_url: str | None
    created_at: datetime
    completed_at: datetime | None


class PdfExportIn(Input):
    execution_id: uuid.UUID | None = None
    job_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    paper: Literal["A4", "Letter"] = "A4"
    title: str = Field(default="Studioflow results", max_length=200)


class TemplateIn(Input):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=1000)
    kind: Literal["image_batch"] = "image_batch"
    provider: str
    model: str = Field(min_length=1, max_length=100)
    default_config: dict[str, Any] = Field(default_factory=dict)
    price_credits: int = Field(default=1, ge=0, le=10_000)
    provider_cost_micro_usd: int = Field(default=0, ge=0, le=100_000_000)
    auto_assign: bool = False
    is_active: bool = True


class TemplatePatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=1000)
    provider: str | None = None
    model: str | None = Field(default=None, min_length=1, max_length=100)
    default_config: dict[str, Any] | None = None
    price_credits: int | None = Field(default=None, ge=0, le=10_000)
    provider_cost_micro_usd: int | None = Field(default=None, ge=0, le=100_000_000)
    auto_assign: bool | None = None
    is_active: bool | None = None


class TemplateOut(BaseModel):
    """A template row; ``workflows`` (how many clients' workflows use it) is counted beside."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str
    kind: str
    provider: str
    model: str
    default_config: dict[str, Any]
    price_credits: int
    provider_cost_micro_usd: int
    auto_assign: bool
    is_active: bool
    workflows: int = 0

    @classmethod
    def with_usage(cls, template: object, workflows: int) -> TemplateOut:
        return cls.model_validate(template).model_copy(update={"workflows": int(workflows)})


class AssignIn(Input):
    template_id: uuid.UUID
    name: str | None = Field(default=None, max_length=120)
    config_overrides: dict[str, Any] = Field(default_factory=dict)


class AssignedOut(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    template_id: uuid.UUID
    name: str


class WorkflowRequestIn(Input):
    title: str = Field(min_length=3, max_length=200)
    description: str = Field(min_length=10, max_length=5000)


class WorkflowRequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: uuid.UUID
    title: str
    description: str
    status: str
    admin_note: str | None
    template_id: uuid.UUID | None
    created_at: datetime
    reviewed_at: datetime | None


class ReviewIn(Input):
    decision: Literal["approve", "decline"]
    note: str | None = Field(default=None, max_length=2000)
    # On approval: the template to assign to the client (optional).
    template_id: uuid.UUID | None = None


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

    @classmethod
    def of(cls, workflow: Workflow, template: WorkflowTemplate) -> WorkflowOut:
        """A client's workflow is its template with the client's overrides on top."""
        return cls(
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


class ProviderKeyState(BaseModel):
    configured: bool
    hint: str | None = None  # "…wxyz"
    platform_default: bool  # the platform has its own key for this provider


class SettingsOut(BaseModel):
    client_id: str
    images_public_by_default: bool
    allowed_referrers: list[str]
    provider_keys: dict[str, ProviderKeyState]


class SettingsIn(Input):
    images_public_by_default: bool | None = None
    allowed_referrers: list[Annotated[str, Field(max_length=253)]] | None = Field(
        default=None, max_length=100
    )
    # A key sets it, null removes it; providers left out stay as they are.
    provider_keys: dict[str, Annotated[str, Field(min_length=8, max_length=400)] | None] = Field(
        default_factory=dict
    )


class KeptOut(BaseModel):
    kept: int = Field(description="How many results had an expiry that is now gone.")
