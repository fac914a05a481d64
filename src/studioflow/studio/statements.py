"""The SQL every item runs, built once.

A single-item execution runs 18 statements from ``execute`` to ``completed`` (counted by
tests/studio/test_statement_budget.py), each once per item. Building a
statement per call (coercing every expression, computing its cache key) and the ORM's
bulk-UPDATE handling cost several times what running it costs: on SQLite an ORM ``update()``
built per call takes ~700 µs here against ~150 µs for the same UPDATE prebuilt on the table
(bench/README.md). So the statements on the per-item path are built at import, on the tables
with bind parameters, and run with ``session.execute``; everything off that path stays ORM.

Bind parameters are named ``p_…``: a name equal to a column's is reserved by SQLAlchemy in
SET/VALUES.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, case, func, or_, select
from sqlalchemy.sql.dml import ReturningUpdate

from studioflow.models import (
    ACTIVE_EXECUTION,
    OPEN_ITEM,
    BatchResult,
    ExecutionEvent,
    ItemStatus,
    WorkflowExecution,
)
from studioflow.models.base import table_of

ACTIVE = ACTIVE_EXECUTION
OPEN_ITEMS = OPEN_ITEM


X = table_of(WorkflowExecution)
R = table_of(BatchResult)
EV = table_of(ExecutionEvent)

# --- creating ---------------------------------------------------------------------------

INSERT_EXECUTION = X.insert()
INSERT_ITEMS = R.insert()

# --- the runner ---------------------------------------------------------------------------

_NOBODY_HOLDS = or_(X.c.runner_until.is_(None), X.c.runner_until < bindparam("p_now"))

# Take the lease for exactly this slice (stale and duplicate jobs match nothing).
LEASE = (
    X.update()
    .where(
        X.c.id == bindparam("p_execution"),
        X.c.slice_no == bindparam("p_slice"),
        X.c.status.in_(ACTIVE),
        _NOBODY_HOLDS,
    )
    .values(
        runner_id=bindparam("p_runner"),
        runner_until=bindparam("p_until"),
        status="processing",
        started_at=func.coalesce(X.c.started_at, bindparam("p_now")),
    )
    .returning(*X.c)
)

# A new lease holder: items a dead runner had in flight go back to pending.
REQUEUE_IN_FLIGHT = (
    R.update()
    .where(R.c.execution_id == bindparam("p_execution"), R.c.status == "processing")
    .values(status="pending", available_at=bindparam("p_now"))
)

RENEW = (
    X.update()
    .where(X.c.id == bindparam("p_execution"), X.c.runner_id == bindparam("p_runner"))
    .values(runner_until=bindparam("p_until"))
)

STATUS = select(X.c.status).where(X.c.id == bindparam("p_execution"))

_DUE = (
    select(R.c.id)
    .where(
        R.c.execution_id == bindparam("p_execution"),
        R.c.status == "pending",
        R.c.available_at <= bindparam("p_now"),
    )
    .order_by(R.c.index)
    .limit(bindparam("p_room"))
)
_TAKE_VALUES = {
    "status": "processing",
    "attempts": R.c.attempts + 1,
    "started_at": bindparam("p_now"),
    "error": None,
    "error_code": None,
}
_CLAIMED = (R.c.id, R.c.index, R.c.prompt, R.c.aspect_ratio, R.c.attempts)

# SQLite has one writer at a time: choose and take in one statement.
CLAIM_ONE_STATEMENT = (
    R.update()
    .where(R.c.id.in_(_DUE.scalar_subquery()), R.c.status == "pending")
    .values(**_TAKE_VALUES)
    .returning(*_CLAIMED)
)
# PostgreSQL: chosen first, then taken — it may run an IN (… LIMIT … SKIP LOCKED) subquery
# more than once per UPDATE and take more rows than the limit.
CHOOSE_DUE = _DUE.with_for_update(skip_locked=True)
TAKE_CHOSEN = (
    R.update()
    .where(R.c.id.in_(bindparam("p_ids", expanding=True)), R.c.status == "pending")
    .values(**_TAKE_VALUES)
    .returning(*_CLAIMED)
)

# --- item transitions -----------------------------------------------------------------------


def _finish(expected: tuple[str, ...]) -> ReturningUpdate[Any, Any, Any, Any, Any]:
    return (
        R.update()
        .where(R.c.id == bindparam("p_item"), R.c.status.in_(expected))
        .values(
            status=bindparam("p_status"),
            error=bindparam("p_error"),
            error_code=bindparam("p_error_code"),
            image_id=bindparam("p_image"),
            provider_request_id=bindparam("p_request"),
            cost_micro_usd=bindparam("p_cost"),
            completed_at=bindparam("p_now"),
        )
        .returning(R.c.index, R.c.attempts)
    )


# Final state of an item, from the states it may be in (a fixed list each: prepared).
FINISH_ITEM: dict[tuple[str, ...], ReturningUpdate[Any, Any, Any, Any, Any]] = {
    expected: _finish(expected)
    for expected in ((ItemStatus.processing,), (ItemStatus.pending,), OPEN_ITEM)
}

RETRY_ITEM = (
    R.update()
    .where(R.c.id == bindparam("p_item"), R.c.status == "processing")
    .values(
        status="pending",
        available_at=bindparam("p_at"),
        error=bindparam("p_error"),
        error_code=bindparam("p_error_code"),
        provider_request_id=bindparam("p_request"),
    )
)


def _count(counter: str) -> ReturningUpdate[Any, Any, Any, Any, Any]:
    return (
        X.update()
        .where(X.c.id == bindparam("p_execution"))
        .values(
            {
                counter: X.c[counter] + 1,
                "credits_refunded": X.c.credits_refunded + bindparam("p_refund"),
                "cost_micro_usd": X.c.cost_micro_usd + bindparam("p_cost"),
                "updated_at": bindparam("p_now"),
            }
        )
        .returning(X.c.status, X.c.total, X.c.completed, X.c.failed, X.c.cancelled)
    )


# One counter UPDATE per final item state.
COUNT_ITEM = {status: _count(status) for status in ("completed", "failed", "cancelled")}

_OPEN = (
    select(R.c.id)
    .where(R.c.execution_id == bindparam("p_execution"), R.c.status.in_(OPEN_ITEMS))
    .exists()
)
_SUCCEEDED = or_(X.c.completed > 0, X.c.total == 0)

# Close an execution with no open items: completed if any item succeeded, else failed.
SETTLE = (
    X.update()
    .where(X.c.id == bindparam("p_execution"), X.c.status.in_(ACTIVE), ~_OPEN)
    .values(
        status=case((_SUCCEEDED, "completed"), else_="failed"),
        completed_at=bindparam("p_now"),
        runner_id=None,
        runner_until=None,
        error=func.coalesce(
            X.c.error, case((_SUCCEEDED, None), else_="Every item failed; credits refunded.")
        ),
        error_code=func.coalesce(X.c.error_code, case((_SUCCEEDED, None), else_="all_failed")),
    )
    .returning(
        X.c.status,
        X.c.total,
        X.c.completed,
        X.c.failed,
        X.c.cancelled,
        X.c.credits_refunded,
        X.c.error,
        X.c.error_code,
    )
)

# --- events ---------------------------------------------------------------------------------

RESERVE_EVENT_SEQ = (
    X.update()
    .where(X.c.id == bindparam("p_execution"))
    .values(event_seq=X.c.event_seq + bindparam("p_count"))
    .returning(X.c.event_seq)
)
INSERT_EVENTS = EV.insert()
