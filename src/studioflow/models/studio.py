"""AI studio: workflow templates (platform admins), workflows (a template assigned to a client)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from studioflow.models.base import Base, IdMixin, TimestampMixin


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
