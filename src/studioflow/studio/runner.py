"""The worker side of an execution: one slice at a time, under a lease, items in parallel.

A job carries ``(execution_id, slice_no)``. It runs only if it can take the execution's lease
for exactly that slice (so stale and duplicate jobs do nothing), works for up to
``studio_slice_seconds`` with ``studio_prompt_concurrency`` items in flight, then hands the
rest to a new job at the back of the queue (fairness between clients). The lease is renewed
while it works; if the process dies, the lease runs out, the recovery sweep enqueues the
slice again, and the next runner puts the dead runner's in-flight items back to pending.
Completed items are never redone; credits move only through :mod:`executions`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from studioflow.media.inspect import ImageRejected
from studioflow.media.service import discard_prepared, prepare_generated, record_generated
from studioflow.models import WorkflowExecution
from studioflow.platform.events import Subscription
from studioflow.platform.runtime import Platform
from studioflow.studio import executions, live
from studioflow.studio.limiter import ProviderLimiter, limiter_for
from studioflow.studio.providers import (
    FailureKind,
    Generated,
    GenerationRequest,
    ImageProvider,
    ProviderError,
    build_provider,
)
from studioflow.studio.providers.base import Reference
from studioflow.studio.repository import EngineRepository

log = structlog.get_logger("studioflow.studio")

BACKOFF_CAP = 120.0
# Providers whose keys live in client settings (others need no settings read).
KEYED_PROVIDERS = frozenset({"gemini", "openai"})
# How often the slice loop looks at its control messages (no database work), and how often
# it reads the status anyway, in case a cancel message was lost (published before the runner
# subscribed, or Redis blinked).
CANCEL_POLL = 0.5
CANCEL_FALLBACK_POLL = 5.0


def backoff(attempt: int, hint: float | None, *, base_seconds: float = 2.0) -> float:
    """The provider's hint when it gives one, else exponential; always with some jitter so
    items that failed together do not come back together."""
    base = hint if hint is not None else min(BACKOFF_CAP, base_seconds * 2 ** (attempt - 1))
    return base + random.uniform(0, max(0.25, base * 0.2))  # noqa: S311 - jitter, not crypto


@dataclass
class Slice:
    platform: Platform
    execution: WorkflowExecution
    runner_id: str
    provider: ImageProvider
    limiter: ProviderLimiter
    references: list[Reference]
    running: dict[asyncio.Task[None], uuid.UUID] = field(default_factory=dict)
    fatal: ProviderError | None = None
    lost_lease: bool = False
    # False once a claim came back short: nothing more is due until an item is retried.
    maybe_more: bool = True
    # Set when the last item's transaction also closed the execution.
    settled: str | None = None


async def run_slice(platform: Platform, execution_id: uuid.UUID, slice_no: int) -> str:
    """Run one slice; what happened, for logs and tests."""
    settings = platform.settings
    runner_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    async with platform.db.transaction() as session:
        engine = EngineRepository(session)
        leased = await engine.lease(
            {
                "p_execution": execution_id,
                "p_slice": slice_no,
                "p_runner": runner_id,
                "p_until": now + timedelta(seconds=settings.studio_lease_seconds),
                "p_now": now,
            }
        )
        if leased is None:
            return "skipped"
        # A detached record of the execution (read-only here; changes go through SQL).
        execution = WorkflowExecution(**leased)
        if execution.started_at == now:
            # The first slice: say so. Nothing can be in flight yet.
            await live.emit(
                session,
                platform.events,
                execution_id,
                "progress",
                executions.progress_of(execution),
            )
        else:
            # We hold the lease: anything still "processing" was in flight in a runner that
            # died. Back to pending; its attempt stays counted, it was never refunded.
            await engine.requeue_in_flight(execution_id, now)
        client_settings = (
            await executions.client_settings(session, execution.client_id)
            if execution.provider in KEYED_PROVIDERS
            else {}
        )
        reference_keys = await _reference_keys(session, execution)
        # The first items are claimed in the same transaction: one fewer round per slice.
        first = await _claim_in(session, platform, execution, settings.studio_prompt_concurrency)
    references = [
        Reference(data=await platform.storage.read(key), mime_type=mime)
        for key, mime in reference_keys
    ]
    site = await platform.site.get()
    try:
        provider = build_provider(
            settings,
            execution.provider,
            client_settings,
            {"gemini": site.gemini_api_key, "openai": site.openai_api_key},
        )
    except ProviderError as error:
        async with platform.db.transaction() as session:
            await executions.fail_execution(
                session,
                platform.events,
                execution,
                error=error.message,
                error_code=error.kind.value,
            )
        return "failed"
    work = Slice(
        platform=platform,
        execution=execution,
        runner_id=runner_id,
        provider=provider,
        limiter=limiter_for(platform.redis, settings.redis_prefix),
        references=references,
    )
    if len(first) < settings.studio_prompt_concurrency:
        work.maybe_more = False
    for item in first:
        work.running[asyncio.create_task(_run_item(work, item), name=f"item-{item.id}")] = item.id
    renewer = asyncio.create_task(_renew(work), name=f"lease-{execution_id}")
    try:
        async with platform.events.subscribe(live.control_channel(execution_id)) as control:
            outcome = await _work(work, control)
    except asyncio.CancelledError:
        # The worker is stopping (every deploy): SAQ puts this job back in the queue, so
        # hand the execution back now instead of letting the batch wait out the lease.
        await asyncio.shield(_stand_down(work))
        raise
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        await provider.close()
    return outcome


async def _reference_keys(session: Any, execution: WorkflowExecution) -> list[tuple[str, str]]:
    """Storage keys of the reference images (read after the transaction, not under its lock)."""
    keys = []
    engine = EngineRepository(session)
    for image_id in execution.reference_image_ids:
        image = await engine.reference_image(execution.client_id, uuid.UUID(image_id))
        if image is None:
            continue  # deleted since: generate without it
        keys.append((image.public_key, image.mime_type))
    return keys


async def _renew(work: Slice) -> None:
    lease = work.platform.settings.studio_lease_seconds
    while True:
        await asyncio.sleep(lease / 3)
        async with work.platform.db.transaction() as session:
            renewed = await EngineRepository(session).renew(
                work.execution.id, work.runner_id, datetime.now(UTC) + timedelta(seconds=lease)
            )
        if not renewed:
            work.lost_lease = True  # finished, or taken over after we stalled: stop
            return


async def _work(work: Slice, control: Subscription) -> str:
    settings = work.platform.settings
    deadline = time.monotonic() + settings.studio_slice_seconds
    cancelled = False
    last_poll = time.monotonic()  # the claim just read the status
    while True:
        if any(message.get("event") == "cancel" for message in control.drain()):
            cancelled = True
        elif time.monotonic() - last_poll >= CANCEL_FALLBACK_POLL:
            last_poll = time.monotonic()
            cancelled = await _is_cancelled(work)
        if cancelled or work.fatal is not None or work.lost_lease:
            break
        room = settings.studio_prompt_concurrency - len(work.running)
        if room > 0 and work.maybe_more and time.monotonic() < deadline:
            claimed = await _claim(work, room)
            work.maybe_more = len(claimed) == room
            for item in claimed:
                task = asyncio.create_task(_run_item(work, item), name=f"item-{item.id}")
                work.running[task] = item.id
        if not work.running:
            break
        done, _ = await asyncio.wait(
            work.running, timeout=CANCEL_POLL, return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            work.running.pop(task, None)
            if not task.cancelled() and task.exception() is not None:
                log.error("studio.item_crashed", error=repr(task.exception()))
    if work.running or cancelled:
        await _abort(work, cancelled=cancelled)
    if work.settled is not None and not cancelled:
        return work.settled
    if work.lost_lease:
        return "lost_lease"
    async with work.platform.db.transaction() as session:
        if work.fatal is not None:
            await executions.fail_execution(
                session,
                work.platform.events,
                work.execution,
                error=work.fatal.message,
                error_code=work.fatal.kind.value,
            )
            await executions.tell_finished(work.platform, session, work.execution, "failed")
            return "failed"
        status = await executions.settle(session, work.platform.events, work.execution.id)
        if status is not None:
            await executions.tell_finished(work.platform, session, work.execution, status)
        if status is not None or cancelled:
            return status or "cancelled"
        return await _hand_on(work, session)


async def _hand_on(work: Slice, session: Any) -> str:
    """Release the lease and queue the next slice (when its earliest item is due)."""
    engine = EngineRepository(session)
    next_slice = await engine.hand_on(work.execution.id, work.runner_id)
    if next_slice is None:
        return "lost_lease"
    due = await engine.earliest_due(work.execution.id)
    scheduled = due.timestamp() if due is not None and due > datetime.now(UTC) else 0
    work.platform.queue.defer(
        session,
        executions.EXECUTE_TASK,
        key=f"{executions.EXECUTE_TASK}:{work.execution.id}:{next_slice}",
        scheduled=scheduled,
        execution_id=str(work.execution.id),
        slice_no=next_slice,
    )
    return "continued"


async def _is_cancelled(work: Slice) -> bool:
    async with work.platform.db.read() as session:
        status = await EngineRepository(session).status(work.execution.id)
    return status == "cancelled"


async def _claim(work: Slice, room: int) -> list[Claimed]:
    async with work.platform.db.transaction() as session:
        return await _claim_in(session, work.platform, work.execution, room)


@dataclass(frozen=True)
class Claimed:
    """An item taken for one attempt."""

    id: uuid.UUID
    index: int
    prompt: str
    aspect_ratio: str
    attempts: int


async def _claim_in(
    session: Any, platform: Platform, execution: WorkflowExecution, room: int
) -> list[Claimed]:
    """Take up to ``room`` due items: pending → processing, one more attempt each."""
    params: dict[str, Any] = {
        "p_execution": execution.id,
        "p_now": datetime.now(UTC),
        "p_room": room,
    }
    rows = await EngineRepository(session).claim(platform.db.dialect, params)
    items = sorted((Claimed(*row) for row in rows), key=lambda item: item.index)
    for item in items:
        await live.emit(
            session,
            platform.events,
            execution.id,
            "item",
            {"index": item.index, "status": "processing", "attempts": item.attempts},
        )
    return items


async def _run_item(work: Slice, item: Claimed) -> None:
    settings = work.platform.settings
    request = GenerationRequest(
        prompt=item.prompt,
        model=work.execution.model,
        aspect_ratio=item.aspect_ratio,
        references=work.references,
    )
    failure: ProviderError | None = None
    generated: Generated | None = None
    try:
        if work.provider.rate_limited:
            await work.limiter.acquire(
                work.provider.limit_key, work.platform.site.current.provider_rate_per_minute
            )
        work.platform.metrics.provider_calls.labels(work.provider.name).inc()
        generated = await asyncio.wait_for(
            work.provider.generate(request), timeout=settings.studio_item_timeout_seconds
        )
    except TimeoutError:
        failure = ProviderError(
            FailureKind.RETRYABLE,
            f"No answer within {settings.studio_item_timeout_seconds:g} s.",
        )
    except ProviderError as error:
        failure = error
    except Exception as error:  # a bug or an unforeseen client error: retry, then fail
        log.exception("studio.provider_crashed", provider=work.provider.name)
        failure = ProviderError(
            FailureKind.RETRYABLE,
            f"Unexpected error talking to the provider ({type(error).__name__}).",
        )
    if generated is not None:
        try:
            await _complete(work, item, generated)
            return
        except ImageRejected as rejected:
            failure = ProviderError(
                FailureKind.MALFORMED,
                f"The provider's image was refused: {rejected.detail}",
                request_id=generated.request_id,
            )
        except Exception as error:  # storage or database trouble: the item is tried again
            log.exception("studio.store_failed")
            failure = ProviderError(
                FailureKind.RETRYABLE,
                f"Could not store the result ({type(error).__name__}).",
                request_id=generated.request_id,
            )
    assert failure is not None
    work.platform.metrics.provider_failures.labels(work.provider.name, failure.kind.value).inc()
    if failure.kind is FailureKind.AUTH:
        work.fatal = failure  # no item can succeed with this key: stop the execution
        return
    if failure.retryable and item.attempts < settings.studio_max_attempts:
        await _retry_later(work, item, failure)
        return
    async with work.platform.db.transaction() as session:
        finished = await executions.finish_item(
            session,
            work.platform.events,
            work.execution,
            item.id,
            "failed",
            error=failure.message,
            error_code=failure.kind.value,
            request_id=failure.request_id,
        )
        if finished:
            await _settle_if_done(work, session)


async def _complete(work: Slice, item: Claimed, generated: Generated) -> None:
    prepared = await prepare_generated(work.platform, work.execution.client_id, generated.data)
    handed_over = False
    try:
        async with work.platform.db.transaction() as session:
            # From here the transaction owns the files: a rollback deletes them.
            handed_over = True
            image_id = await record_generated(
                work.platform,
                session,
                prepared,
                filename=f"execution-{work.execution.id}-{item.index + 1:03d}.png",
                title=item.prompt[:200],
                created_by=work.execution.created_by,
                expires_at=work.platform.site.current.expiry(
                    work.platform.site.current.ttl_artifacts_days, datetime.now(UTC)
                ),
            )
            finished = await executions.finish_item(
                session,
                work.platform.events,
                work.execution,
                item.id,
                "completed",
                image_id=image_id,
                request_id=generated.request_id,
            )
            if finished:
                await _settle_if_done(work, session)
    except asyncio.CancelledError:
        if not handed_over:
            await discard_prepared(work.platform, prepared)
        raise


async def _settle_if_done(work: Slice, session: Any) -> None:
    """Close the execution in the same transaction as its last item, when it is the last."""
    if not work.maybe_more and len(work.running) <= 1:
        status = await executions.settle(session, work.platform.events, work.execution.id)
        if status is not None:
            work.settled = status
            await executions.tell_finished(work.platform, session, work.execution, status)


async def _retry_later(work: Slice, item: Claimed, failure: ProviderError) -> None:
    delay = backoff(
        item.attempts,
        failure.retry_after,
        base_seconds=work.platform.settings.studio_retry_base_seconds,
    )
    retry_at = datetime.now(UTC) + timedelta(seconds=delay)
    async with work.platform.db.transaction() as session:
        moved = await EngineRepository(session).retry_item(
            {
                "p_item": item.id,
                "p_at": retry_at,
                "p_error": failure.message[:1000],
                "p_error_code": failure.kind.value,
                "p_request": failure.request_id,
            }
        )
        work.maybe_more = True  # it will be due again
        if moved:
            await live.emit(
                session,
                work.platform.events,
                work.execution.id,
                "item",
                {
                    "index": item.index,
                    "status": "pending",
                    "attempts": item.attempts,
                    "error": failure.message,
                    "error_code": failure.kind.value,
                    "retry_at": retry_at.isoformat(),
                },
            )


async def _stop_running(work: Slice) -> list[uuid.UUID]:
    """Cancel the item tasks in flight and wait for them; the ids of their items."""
    tasks = list(work.running)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    item_ids = [work.running[t] for t in tasks]
    work.running.clear()
    return item_ids


async def _stand_down(work: Slice) -> None:
    """Items in flight back to pending (their attempt stays counted), the lease released."""
    item_ids = await _stop_running(work)
    if work.lost_lease:
        return
    async with work.platform.db.transaction() as session:
        engine = EngineRepository(session)
        # Every "processing" item is requeued, not only the tasks we know of: the stop can
        # cancel a claim after its commit reached the database but before its items became
        # tasks here. While this runner holds the lease (the UPDATE that releases it locks
        # the row), anything in flight in this execution is ours.
        if await engine.hand_back(work.execution.id, work.runner_id):
            await engine.requeue_in_flight(work.execution.id, datetime.now(UTC))
    log.info("studio.slice_handed_back", execution=str(work.execution.id), items=len(item_ids))


async def _abort(work: Slice, *, cancelled: bool) -> None:
    """Stop the items in flight: cancelled (and refunded) on cancel, else back to pending."""
    item_ids = await _stop_running(work)
    if work.lost_lease:
        return  # someone else owns the execution now; they will deal with these items
    async with work.platform.db.transaction() as session:
        if cancelled:
            await executions.close_cancelled(session, work.platform.events, work.execution.id)
            return
        engine = EngineRepository(session)
        for item_id in item_ids:
            await engine.back_to_pending(item_id)


async def recover(platform: Platform) -> int:
    """Queue again every unfinished execution nobody holds (lost jobs, dead workers).

    A duplicate is harmless: a job runs only with the lease for its slice. Returns how many
    executions were queued.
    """
    stale_after = datetime.now(UTC) - timedelta(seconds=platform.settings.studio_lease_seconds)
    async with platform.db.transaction() as session:
        engine = EngineRepository(session)
        rows = await engine.stale(stale_after, limit=1000)
        orphans = await engine.cancelled_with_open_items(limit=1000)
        for execution_id in orphans:
            # Cancelled while its runner was dying: nobody else will close it.
            await executions.close_cancelled(session, platform.events, execution_id)
    minute = int(time.time() // 60)
    for execution_id, slice_no, _status in rows:
        await platform.queue.enqueue(
            executions.EXECUTE_TASK,
            key=f"{executions.EXECUTE_TASK}:{execution_id}:{slice_no}:recover-{minute}",
            execution_id=str(execution_id),
            slice_no=slice_no,
        )
    if rows:
        log.warning("studio.recovered", executions=len(rows))
    return len(rows)
