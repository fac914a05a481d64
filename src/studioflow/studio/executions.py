"""Executions and their items: creating one (credits reserved in the same transaction), reading
them, cancelling, and the item transitions the runner and cancel share.

Credits: executing debits items x price once (key ``execution:{id}``); each item that ends
failed or cancelled is refunded once (key ``refund:{item id}``). Item transitions are
conditional updates (``WHERE status = <expected>``), so two parties finishing the same item —
a runner and a cancel, or two runners after a crash — cannot both count or refund it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.billing import credits
from studioflow.identity.auth import Principal
from studioflow.media import service as media
from studioflow.models import (
    ACTIVE_EXECUTION,
    FINISHED_EXECUTION,
    OPEN_ITEM,
    BatchResult,
    ItemStatus,
    Workflow,
    WorkflowExecution,
    WorkflowTemplate,
)
from studioflow.models.base import uuid7
from studioflow.notifications import service as notifications
from studioflow.notifications.content import Message
from studioflow.platform.errors import NotFound, Unprocessable
from studioflow.platform.events import EventBus
from studioflow.platform.pagination import (
    PageParams,
)
from studioflow.platform.repository import Scope
from studioflow.platform.runtime import Platform
from studioflow.studio import live
from studioflow.studio.prompts import Item
from studioflow.studio.providers import aspect_ratios_of
from studioflow.studio.repository import EngineRepository, ExecutionRepository
from studioflow.studio.service import get_workflow

ACTIVE = ACTIVE_EXECUTION
TERMINAL = FINISHED_EXECUTION
MAX_REFERENCES = 4
EXECUTE_TASK = "studio.execute"


@dataclass(frozen=True)
class NewExecution:
    workflow_id: uuid.UUID | None
    items: list[Item]
    reference_image_ids: list[uuid.UUID]
    config: dict[str, Any]
    kind: str = "batch"
    # The workflow and template when the caller has already loaded them.
    resolved: tuple[Workflow, WorkflowTemplate] | None = None


def progress_of(execution: WorkflowExecution) -> dict[str, Any]:
    return {
        "status": execution.status,
        "total": execution.total,
        "completed": execution.completed,
        "failed": execution.failed,
        "cancelled": execution.cancelled,
    }


async def create_execution(
    platform: Platform, session: AsyncSession, principal: Principal, new: NewExecution
) -> WorkflowExecution:
    if new.workflow_id is None:
        raise NotFound("No such workflow.")
    workflow, template = new.resolved or await get_workflow(session, principal, new.workflow_id)
    if not (workflow.is_active and template.is_active):
        raise Unprocessable("This workflow is switched off.", code="workflow_inactive")
    config = {**template.default_config, **workflow.config_overrides, **new.config}
    allowed = aspect_ratios_of(template.provider)
    ratios = [config.get("aspect_ratio") or "1:1"] + [
        item.aspect_ratio for item in new.items if item.aspect_ratio
    ]
    for ratio in ratios:
        if ratio not in allowed:
            raise Unprocessable(
                f"Aspect ratio {ratio!r} is not offered by {template.provider}; "
                f"choose one of {', '.join(sorted(allowed))}.",
                code="invalid_aspect_ratio",
            )
    references = await _check_references(session, principal, new.reference_image_ids)
    execution_id = uuid7()
    reserved = len(new.items) * template.price_credits
    if reserved:
        await credits.apply(
            session,
            principal.client_id,
            -reserved,
            reason="execution",
            key=f"execution:{execution_id}",
            reference=f"execution:{execution_id}",
            actor_user_id=principal.user_id,
            fresh=True,  # a new id: no earlier event to look for
        )
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": execution_id,
        "client_id": principal.client_id,
        "workflow_id": workflow.id,
        "created_by": principal.user_id,
        "kind": new.kind,
        "status": "queued",
        "provider": template.provider,
        "model": template.model,
        "config": config,
        "reference_image_ids": [str(r) for r in references],
        "total": len(new.items),
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "price_credits": template.price_credits,
        "credits_reserved": reserved,
        "credits_refunded": 0,
        "item_cost_micro_usd": 0
        if template.provider == "placeholder"
        else template.provider_cost_micro_usd,
        "cost_micro_usd": 0,
        "event_seq": 1,  # its first event is inserted below
        "slice_no": 0,
        "created_at": now,
        "updated_at": now,
    }
    # Core inserts (statements.py): this runs for every execute.
    default_ratio = str(config.get("aspect_ratio") or "1:1")
    await EngineRepository(session).insert(
        values,
        [
            {
                "id": uuid7(),
                "execution_id": execution_id,
                "client_id": principal.client_id,
                "index": number,
                "prompt": item.prompt,
                "aspect_ratio": item.aspect_ratio or default_ratio,
                "status": "pending",
                "attempts": 0,
                "cost_micro_usd": 0,
                "available_at": now,
            }
            for number, item in enumerate(new.items)
        ],
    )
    # What the caller reads back; not in the session (nothing else is loaded or flushed).
    execution = WorkflowExecution(**values)
    await live.emit_first(
        session, platform.events, execution_id, "progress", progress_of(execution)
    )
    platform.queue.defer(
        session,
        EXECUTE_TASK,
        key=f"{EXECUTE_TASK}:{execution_id}:0",
        execution_id=str(execution_id),
        slice_no=0,
    )
    return execution


async def _check_references(
    session: AsyncSession, principal: Principal, image_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    unique = list(dict.fromkeys(image_ids))
    if len(unique) > MAX_REFERENCES:
        raise Unprocessable(
            f"At most {MAX_REFERENCES} reference images.", code="too_many_references"
        )
    if not unique:
        return []
    # The media feature answers which are the client's: another client's image is
    # answered exactly like one that does not exist.
    found = await media.owned_image_ids(session, principal, unique)
    missing = [str(i) for i in unique if i not in found]
    if missing:
        # Another client's image is answered exactly like one that does not exist.
        raise Unprocessable(
            f"Unknown reference image: {', '.join(missing)}.",
            code="invalid_reference_image",
            extra={"image_ids": missing},
        )
    return unique


async def get_execution(
    session: AsyncSession, principal: Principal, execution_id: uuid.UUID
) -> WorkflowExecution:
    execution = await ExecutionRepository(session).get_fresh(principal, execution_id)
    if execution is None:
        raise NotFound("No such execution.")
    return execution


async def list_executions(
    session: AsyncSession,
    principal: Scope,
    params: PageParams,
    *,
    status: str | None = None,
    workflow_id: uuid.UUID | None = None,
    kind: str | None = None,
) -> tuple[list[WorkflowExecution], str | None]:
    return await ExecutionRepository(session).page(
        principal, params, status=status, workflow_id=workflow_id, kind=kind
    )


async def page_of_results(
    session: AsyncSession, execution_id: uuid.UUID, params: PageParams
) -> tuple[list[BatchResult], str | None]:
    """A page of an execution's items in their order (``index``)."""
    return await EngineRepository(session).items_page(execution_id, params)


async def first_prompts(
    session: AsyncSession, rows: list[WorkflowExecution]
) -> dict[uuid.UUID, str]:
    return await ExecutionRepository(session).first_prompts(rows)


async def batch_results(session: AsyncSession, execution_id: uuid.UUID) -> list[BatchResult]:
    return await EngineRepository(session).items(execution_id)


# --- item transitions (runner and cancel) ------------------------------------------------


async def finish_item(
    session: AsyncSession,
    bus: EventBus,
    execution: WorkflowExecution,
    item_id: uuid.UUID,
    status: str,
    *,
    expected: tuple[str, ...] = ("processing",),
    error: str | None = None,
    error_code: str | None = None,
    image_id: uuid.UUID | None = None,
    request_id: str | None = None,
) -> bool:
    """Move an item to ``completed``, ``failed`` or ``cancelled`` once; refund the last two."""
    now = datetime.now(UTC)
    cost = execution.item_cost_micro_usd if status == "completed" else 0
    engine = EngineRepository(session)
    row = await engine.finish_item(
        expected,
        {
            "p_item": item_id,
            "p_status": status,
            "p_error": error[:1000] if error else None,
            "p_error_code": error_code,
            "p_image": image_id,
            "p_request": request_id,
            "p_cost": cost,
            "p_now": now,
        },
    )
    if row is None:
        return False
    index, attempts = row[0], row[1]
    refund = execution.price_credits if status in {"failed", "cancelled"} else 0
    if refund:
        await credits.apply(
            session,
            execution.client_id,
            refund,
            reason="refund",
            key=f"refund:{item_id}",
            reference=f"execution:{execution.id}",
            # The item's conditional update above already makes this once only; the unique
            # key stands behind it.
            fresh=True,
        )
    counts = await engine.count_item(
        status, {"p_execution": execution.id, "p_refund": refund, "p_cost": cost, "p_now": now}
    )
    item_event: dict[str, Any] = {
        "index": index,
        "status": status,
        "attempts": attempts,
        "error": error,
        "error_code": error_code,
        "image_id": str(image_id) if image_id else None,
    }
    await live.emit(session, bus, execution.id, "item", item_event)
    st, total, done, failed, cancelled = counts
    await live.emit(
        session,
        bus,
        execution.id,
        "progress",
        {
            "status": st,
            "total": total,
            "completed": done,
            "failed": failed,
            "cancelled": cancelled,
        },
    )
    return True


async def tell_finished(
    platform: Platform, session: AsyncSession, execution: WorkflowExecution, status: str
) -> None:
    """Tell whoever started the run that it is over (in the transaction that closed it;
    once, by the execution's id)."""
    if execution.created_by is None or status not in {"completed", "failed"}:
        return
    event = f"execution.{status}"
    title = "Your generation run finished" if status == "completed" else "A generation run failed"
    await notifications.notify(
        platform,
        session,
        user_id=execution.created_by,
        event=event,
        key=f"execution:{execution.id}:{status}",
        message=Message(
            title=title,
            body="Open it to see the results." if status == "completed" else "See what went wrong.",
            link=f"/studio/executions/{execution.id}",
            email_text=f"{title}.\n\n{platform.settings.base_url}/studio/executions/{execution.id}",
        ),
    )


async def remaining_items(session: AsyncSession, execution_id: uuid.UUID) -> int:
    return await EngineRepository(session).remaining(execution_id)


async def settle(session: AsyncSession, bus: EventBus, execution_id: uuid.UUID) -> str | None:
    """Close an execution whose items are all done (one conditional UPDATE): completed if
    any item succeeded, else failed."""
    row = await EngineRepository(session).settle(execution_id, datetime.now(UTC))
    if row is None:
        return None
    status, total, done, failed, cancelled, refunded, error, error_code = row
    await live.emit(
        session,
        bus,
        execution_id,
        status,
        {
            "status": status,
            "total": total,
            "completed": done,
            "failed": failed,
            "cancelled": cancelled,
            "credits_refunded": refunded,
            "error": error,
            "error_code": error_code,
        },
    )
    return str(status)


def _summary(execution: WorkflowExecution) -> dict[str, Any]:
    return {
        **progress_of(execution),
        "credits_refunded": execution.credits_refunded,
        "error": execution.error,
        "error_code": execution.error_code,
    }


async def fail_execution(
    session: AsyncSession,
    bus: EventBus,
    execution: WorkflowExecution,
    *,
    error: str,
    error_code: str,
) -> None:
    """Give up on everything not done yet (no usable provider key): fail and refund it all."""
    engine = EngineRepository(session)
    await engine.set_error(execution.id, error[:1000], error_code)
    execution.error, execution.error_code = error[:1000], error_code
    for item_id in await engine.open_item_ids(execution.id, OPEN_ITEM):
        await finish_item(
            session,
            bus,
            execution,
            item_id,
            "failed",
            expected=OPEN_ITEM,
            error=error,
            error_code=error_code,
        )
    await settle(session, bus, execution.id)


async def cancel_execution(
    platform: Platform, session: AsyncSession, principal: Principal, execution_id: uuid.UUID
) -> WorkflowExecution:
    """Stop pending items now (refunded); a live runner aborts the running ones."""
    execution = await get_execution(session, principal, execution_id)
    now = datetime.now(UTC)
    engine = EngineRepository(session)
    if not await engine.mark_cancelled(execution_id, now):
        await session.refresh(execution)
        if execution.status == "cancelled":
            return execution  # cancelling twice is fine
        raise Unprocessable(
            f"The execution is already {execution.status}.", code="execution_finished"
        )
    await session.refresh(execution)
    runner_alive = execution.runner_until is not None and execution.runner_until > now
    if runner_alive:
        live.announce_cancel(session, platform.events, execution_id)
    # Running items belong to their runner, told at once (above); with no
    # live runner nobody else will finish them, so they are cancelled here too.
    states = (ItemStatus.pending,) if runner_alive else OPEN_ITEM
    for item_id in await engine.open_item_ids(execution_id, states):
        await finish_item(
            session,
            platform.events,
            execution,
            item_id,
            "cancelled",
            expected=states,
            error="Cancelled.",
            error_code="cancelled",
        )
    await session.refresh(execution)
    if not await remaining_items(session, execution_id):
        await live.emit(session, platform.events, execution_id, "cancelled", _summary(execution))
    # else the live runner aborts its items and then says "cancelled" (the last event).
    return execution


async def close_cancelled(session: AsyncSession, bus: EventBus, execution_id: uuid.UUID) -> None:
    """After a cancel: cancel (and refund) whatever is still open, then the final event."""
    engine = EngineRepository(session)
    execution = await engine.fresh(execution_id)
    if execution is None or execution.status != "cancelled":
        return
    for item_id in await engine.open_item_ids(execution_id, OPEN_ITEM):
        await finish_item(
            session,
            bus,
            execution,
            item_id,
            "cancelled",
            expected=OPEN_ITEM,
            error="Cancelled while running.",
            error_code="cancelled",
        )
    await engine.release(execution_id)
    await session.refresh(execution)
    await live.emit(session, bus, execution_id, "cancelled", _summary(execution))


async def client_settings(session: AsyncSession, client_id: uuid.UUID) -> dict[str, Any]:
    return await EngineRepository(session).client_settings(client_id)
