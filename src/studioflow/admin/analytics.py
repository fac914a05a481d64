"""The admins' dashboard (seed 000): the platform's cards, a day-by-day trend, the busiest
workflows and workspaces and the latest failures over a range of days. Each figure is one
query on an index by creation time (``FigureRepository``); a bench row keeps it under a
second on 100,000 runs (bench/admin_bench.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.admin.ranges import DayRange
from studioflow.admin.repository import FigureRepository
from studioflow.platform.site_settings import Site

TOP = 5
RECENT_FAILURES = 10
MICRO = Decimal(1_000_000)


def money(credits: int, site: Site) -> Decimal:
    """What ``credits`` sold for at the platform's credit price, in the currency's units."""
    return (Decimal(credits) * site.credit_price_cents / 100).quantize(Decimal("0.01"))


def usd(micro: int) -> Decimal:
    return (Decimal(micro) / MICRO).quantize(Decimal("0.0001"))


def rate(completed: int, failed: int) -> float | None:
    """Items done of the items that finished; None when none finished."""
    finished = completed + failed
    return round(completed / finished, 4) if finished else None


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


async def dashboard(
    session: AsyncSession, dialect: str, days: DayRange, site: Site
) -> dict[str, Any]:
    figures = FigureRepository(session)
    start, end = days.start, days.end
    users, new_users = await figures.users(start, end)
    # The range's totals are the sums of its days: one scan each for runs and the ledger.
    per_day = {_day(row[0]): row for row in await figures.runs_by_day(start, end, dialect)}
    credit_days = {_day(row[0]): row for row in await figures.credits_by_day(start, end, dialect)}
    runs = {
        "executions": sum(int(r[1]) for r in per_day.values()),
        "completed": sum(int(r[2]) for r in per_day.values()),
        "failed": sum(int(r[3]) for r in per_day.values()),
        "cost_micro_usd": sum(int(r[4]) for r in per_day.values()),
    }
    spent = sum(int(r[2]) for r in credit_days.values())
    refunded = sum(int(r[3]) for r in credit_days.values())
    clients = await figures.by_client(start, end)
    trend = []
    for day in days.days:
        run = per_day.get(day)
        ledger = credit_days.get(day)
        day_spent = int(ledger[2]) - int(ledger[3]) if ledger else 0
        completed, failed = (int(run[2]), int(run[3])) if run else (0, 0)
        trend.append(
            {
                "date": day,
                "executions": int(run[1]) if run else 0,
                "items_completed": completed,
                "items_failed": failed,
                "success_rate": rate(completed, failed),
                "credits_spent": day_spent,
                "revenue": money(day_spent, site),
            }
        )
    top_workflows = [
        {
            "workflow_id": row.workflow_id,
            "name": row[-2],
            "client_name": row[-1],
            "executions": int(row.runs),
            "items_completed": int(row.completed),
            "items_failed": int(row.failed),
            "success_rate": rate(int(row.completed), int(row.failed)),
            "credits_spent": int(row.reserved) - int(row.refunded),
        }
        for row in await figures.by_workflow(start, end, TOP)
    ]
    top_clients = [
        {
            "client_id": row.client_id,
            "name": row.name,
            "executions": int(row.runs),
            "items_completed": int(row.completed),
            "credits_spent": int(row.kept),
        }
        for row in clients[:TOP]
    ]
    recent_failures = [
        {
            "execution_id": execution.id,
            "client_id": execution.client_id,
            "client_name": name,
            "status": execution.status.value,
            "total": execution.total,
            "items_failed": execution.failed,
            "error_code": execution.error_code,
            "error": (execution.error or "")[:300] or None,
            "created_at": execution.created_at,
        }
        for execution, name in await figures.recent_failures(start, end, RECENT_FAILURES)
    ]
    net_spent = spent - refunded
    return {
        "from": days.first,
        "to": days.last,
        "cards": {
            "users": users,
            "new_users": new_users,
            "active_clients": len(clients),
            "executions": runs["executions"],
            "items_completed": runs["completed"],
            "items_failed": runs["failed"],
            "success_rate": rate(runs["completed"], runs["failed"]),
            "credits_spent": net_spent,
            "provider_cost_usd": usd(runs["cost_micro_usd"]),
            "revenue": {"amount": money(net_spent, site), "currency": site.currency},
        },
        "trend": trend,
        "top_workflows": top_workflows,
        "top_clients": top_clients,
        "recent_failures": recent_failures,
    }
