"""AI studio: templates (platform admins), workflows (a template assigned to a client),
executions with their items and events, workflow requests, idempotent answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, TimestampMixin, status_type, utcnow


class ExecutionStatus(StrEnum):
    queued = "queued"
    processing = "processing"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class ItemStatus(StrEnum):
    pending = "pending"
    processing = "processing"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


# An execution still running, or finished; an item still to be done.
ACTIVE_EXECUTION = (ExecutionStatus.queued, ExecutionStatus.processing)
FINISHED_EXECUTION = frozenset(
    {ExecutionStatus.completed, ExecutionStatus.failed, ExecutionStatus.cancelled}
)
OPEN_ITEM = (ItemStatus.pending, ItemStatus.processing)


class ExecutionKind(StrEnum):
    batch = "batch"  # workflow execute
    job = "job"  # the single-prompt jobs API of seed 001


class RequestStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    declined = "declined"


class WorkflowTemplate(IdMixin, TimestampMixin, Base):
    __tablename__ = "workflow_templates"

    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    kind: Mapped[str] = mapped_column(String(30), default="image_batch")
    provider: Mapped[str] = mapped_column(String(30))
    model: Mapped[str] = mapped_column(String(100))
    default_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    price_credits: Mapped[int] = mapped_column(default=1)
    # What one item costs us at the provider, in millionths of a dollar (integer money).
    provider_cost_micro_usd: Mapped[int] = mapped_column(default=0)
    auto_assign: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)


class Workflow(IdMixin, TimestampMixin, Base):
    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("client_id", "template_id"),)

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflow_templates.id", ondelete="RESTRICT")
    )
    name: Mapped[str] = mapped_column(String(120))
    config_overrides: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_active: Mapped[bool] = mapped_column(default=True)


class WorkflowExecution(IdMixin, TimestampMixin, Base):
    """One run of a workflow over a batch of prompts: the record the queue's jobs point to."""

    __tablename__ = "workflow_executions"
    __table_args__ = (
        Index("ix_workflow_executions_client_created", "client_id", "id"),
        Index("ix_workflow_executions_status", "status"),
        # The dashboard and finances read the runs started in a range of days; the figures'
        # columns ride in the index, so a range is read from it alone and not from the wide
        # rows (5x faster on SQLite, bench/README.md). The counters change once per item,
        # a small extra index write beside the row's own.
        Index(
            "ix_workflow_executions_created_at",
            "created_at",
            "client_id",
            "workflow_id",
            "completed",
            "failed",
            "cost_micro_usd",
            "credits_reserved",
            "credits_refunded",
        ),
    )

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    workflow_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workflows.id", ondelete="SET NULL"), index=True
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    kind: Mapped[ExecutionKind] = mapped_column(
        status_type(ExecutionKind, name="kind", length=10), default=ExecutionKind.batch
    )
    status: Mapped[ExecutionStatus] = mapped_column(
        status_type(ExecutionStatus, name="status", length=12), default=ExecutionStatus.queued
    )
    provider: Mapped[str] = mapped_column(String(30))
    model: Mapped[str] = mapped_column(String(100))
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reference_image_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    total: Mapped[int]
    completed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    cancelled: Mapped[int] = mapped_column(default=0)
    price_credits: Mapped[int]
    credits_reserved: Mapped[int]
    credits_refunded: Mapped[int] = mapped_column(default=0)
    # What one item costs us at the provider (the template's figure when the run began).
    item_cost_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(String(1000))
    error_code: Mapped[str | None] = mapped_column(String(60))
    # Live events get increasing ids from this counter (SSE ids, Last-Event-ID replays).
    event_seq: Mapped[int] = mapped_column(default=0)
    # Which worker runs the execution now (a lease), and the slice the next job must carry:
    # a job of an older slice, or one arriving while a lease holds, does nothing.
    runner_id: Mapped[str | None] = mapped_column(String(40))
    runner_until: Mapped[datetime | None]
    slice_no: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class BatchResult(IdMixin, Base):
    """One item of an execution: a prompt, its attempts and its result image."""

    __tablename__ = "workflow_batch_results"
    __table_args__ = (
        UniqueConstraint("execution_id", "index"),
        Index("ix_workflow_batch_results_claim", "execution_id", "status", "available_at"),
    )

    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflow_executions.id", ondelete="CASCADE")
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    index: Mapped[int]
    prompt: Mapped[str] = mapped_column(Text)
    aspect_ratio: Mapped[str] = mapped_column(String(10))
    status: Mapped[ItemStatus] = mapped_column(
        status_type(ItemStatus, name="status", length=12), default=ItemStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(1000))
    error_code: Mapped[str | None] = mapped_column(String(60))
    provider_request_id: Mapped[str | None] = mapped_column(String(200))
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger, default=0)
    image_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    # A retry waits until then (backoff, the provider's retry hint).
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class ExecutionEvent(Base):
    """Every live event, kept so that an SSE client reconnecting with Last-Event-ID misses none."""

    __tablename__ = "execution_events"
    __table_args__ = (UniqueConstraint("execution_id", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workflow_executions.id", ondelete="CASCADE")
    )
    seq: Mapped[int]
    type: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkflowRequest(IdMixin, TimestampMixin, Base):
    """A client asks the platform for a new workflow; an admin approves or declines."""

    __tablename__ = "workflow_requests"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[RequestStatus] = mapped_column(
        status_type(RequestStatus, name="status", length=12), default=RequestStatus.pending
    )
    admin_note: Mapped[str | None] = mapped_column(String(2000))
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None]
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workflow_templates.id", ondelete="SET NULL")
    )


class IdempotencyRecord(Base):
    """The first answer to a POST carrying ``Idempotency-Key``, replayed for 24 hours."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("client_id", "scope", "key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
