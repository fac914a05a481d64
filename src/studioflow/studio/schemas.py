"""Request and response models of the studio API (API.md, "Studio")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from studioflow.models import BatchResult, WorkflowExecution


class ExecuteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    aspect_ratio: str | None = Field(default=None, max_length=10)


class ExecuteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    id: uuid.UUID
    workflow_id: uuid.UUID | None
    kind: str
    status: str
    provider: str
    model: str
    placeholder: bool
    config: dict[str, Any]
    progress: Progress
    output_data: OutputData
    credits_reserved: int
    credits_refunded: int
    cost: Cost
    error: str | None
    error_code: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_seconds: float | None


def execution_out(execution: WorkflowExecution) -> ExecutionOut:
    duration = None
    if execution.started_at and execution.completed_at:
        duration = round((execution.completed_at - execution.started_at).total_seconds(), 3)
    return ExecutionOut(
        id=execution.id,
        workflow_id=execution.workflow_id,
        kind=execution.kind,
        status=execution.status,
        provider=execution.provider,
        model=execution.model,
        placeholder=execution.provider == "placeholder",
        config=execution.config,
        progress=Progress(
            total=execution.total,
            completed=execution.completed,
            failed=execution.failed,
            cancelled=execution.cancelled,
        ),
        output_data=OutputData(
            successful=execution.completed,
            failed=execution.failed + execution.cancelled,
            total=execution.total,
        ),
        credits_reserved=execution.credits_reserved,
        credits_refunded=execution.credits_refunded,
        cost=Cost(
            credits=execution.credits_reserved - execution.credits_refunded,
            # Integer cents, rounded half up, from integer micro-dollars.
            provider=Money(amount=(execution.cost_micro_usd + 5_000) // 10_000),
            provider_micro_usd=execution.cost_micro_usd,
        ),
        error=execution.error,
        error_code=execution.error_code,
        created_at=execution.created_at,
        started_at=execution.started_at,
        completed_at=execution.completed_at,
        duration_seconds=duration,
    )


class BatchResultOut(BaseModel):
    index: int
    prompt: str
    aspect_ratio: str
    status: str
    result_url: str | None
    image_id: uuid.UUID | None
    error: str | None
    error_code: str | None
    attempts: int
    provider_request_id: str | None
    cost_micro_usd: int
    completed_at: datetime | None


def batch_result_out(item: BatchResult, result_url: str | None) -> BatchResultOut:
    return BatchResultOut(
        index=item.index,
        prompt=item.prompt,
        aspect_ratio=item.aspect_ratio,
        status=item.status,
        result_url=result_url,
        image_id=item.image_id,
        error=item.error,
        error_code=item.error_code,
        attempts=item.attempts,
        provider_request_id=item.provider_request_id,
        cost_micro_usd=item.cost_micro_usd,
        completed_at=item.completed_at,
    )


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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


class PdfExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    execution_id: uuid.UUID | None = None
    job_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    paper: Literal["A4", "Letter"] = "A4"
    title: str = Field(default="Studioflow results", max_length=200)
