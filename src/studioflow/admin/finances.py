"""Finances (seed 000's admin page): credits granted, spent and refunded, the providers'
cost, the revenue of the credits spent (at the platform's credit price) and the margin, by
day, workspace or workflow over a range of days; as JSON or CSV.

Credits come from the ledger (by day and workspace) or from the runs themselves (by
workflow: the ledger does not know workflows; a run's spend is what it reserved less what
was refunded). The margin is revenue less provider cost when the credit price is in USD,
the providers' currency; in another currency it is left empty rather than mixing the two.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.admin.analytics import money, usd
from studioflow.admin.ranges import DayRange
from studioflow.admin.repository import FigureRepository
from studioflow.platform.site_settings import Site

GroupBy = Literal["day", "client", "workflow"]
COLUMNS = (
    "key",
    "label",
    "credits_granted",
    "credits_spent",
    "credits_refunded",
    "provider_cost_usd",
    "revenue",
    "currency",
    "margin",
)


def _row(
    key: str, label: str, granted: int | None, spent: int, refunded: int, cost: int, site: Site
) -> dict[str, Any]:
    revenue = money(spent - refunded, site)
    cost_usd = usd(cost)
    return {
        "key": key,
        "label": label,
        "credits_granted": granted,
        "credits_spent": spent,
        "credits_refunded": refunded,
        "provider_cost_usd": cost_usd,
        "revenue": revenue,
        "currency": site.currency,
        "margin": (revenue - cost_usd).quantize(Decimal("0.0001"))
        if site.currency == "USD"
        else None,
    }


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


async def report(
    session: AsyncSession, dialect: str, days: DayRange, group_by: GroupBy, site: Site
) -> dict[str, Any]:
    figures = FigureRepository(session)
    start, end = days.start, days.end
    rows: list[dict[str, Any]] = []
    if group_by == "day":
        ledger = {_day(r[0]): r for r in await figures.credits_by_day(start, end, dialect)}
        runs = {_day(r[0]): r for r in await figures.runs_by_day(start, end, dialect)}
        for day in days.days:
            key = day.isoformat()
            credit, run = ledger.get(key), runs.get(key)
            granted, spent, refunded = (int(v) for v in credit[1:4]) if credit else (0, 0, 0)
            rows.append(_row(key, key, granted, spent, refunded, int(run[4]) if run else 0, site))
    elif group_by == "client":
        costs = await figures.runs_by_client(start, end)
        seen = set()
        for client_id, granted, spent, refunded, name in await figures.credits_by_client(
            start, end
        ):
            seen.add(client_id)
            cost = costs.get(client_id, 0)
            rows.append(
                _row(str(client_id), name, int(granted), int(spent), int(refunded), cost, site)
            )
        # A workspace whose runs cost something but whose ledger was quiet in the range
        # (runs started on credits reserved before it) still shows its cost.
        rows.extend(
            _row(str(client_id), str(client_id), 0, 0, 0, cost, site)
            for client_id, cost in costs.items()
            if client_id not in seen and cost
        )
        rows.sort(key=lambda r: (-r["credits_spent"], r["label"]))
    else:
        for row in await figures.by_workflow(start, end, None):
            rows.append(
                _row(
                    str(row.workflow_id),
                    f"{row[-2]} ({row[-1]})",
                    None,
                    int(row.reserved),
                    int(row.refunded),
                    int(row.cost),
                    site,
                )
            )
    totals = _row(
        "total",
        "Total",
        None if group_by == "workflow" else sum(r["credits_granted"] or 0 for r in rows),
        sum(r["credits_spent"] for r in rows),
        sum(r["credits_refunded"] for r in rows),
        0,
        site,
    )
    totals["provider_cost_usd"] = sum((r["provider_cost_usd"] for r in rows), Decimal(0))
    if totals["margin"] is not None:
        totals["margin"] = totals["revenue"] - totals["provider_cost_usd"]
    return {
        "from": days.first,
        "to": days.last,
        "group_by": group_by,
        "rows": rows,
        "totals": totals,
    }


def _cell(value: Any) -> str:
    """A spreadsheet must not run a workspace's name as a formula (CSV injection)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return str(value)  # a number's minus sign is a minus sign
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def as_csv(found: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in [*found["rows"], found["totals"]]:
        writer.writerow([_cell(row[column]) for column in COLUMNS])
    return out.getvalue()
