"""The plans of API.md, seeded into the ``plans`` table (admins may edit the rows)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.billing.repository import PlanRepository
from studioflow.models import Plan

GB = 1024**3
TB = 1024**4
MB = 1024**2

DEFAULT_PLANS: dict[str, dict[str, int]] = {
    "free": {
        "uploads_per_day": 100,
        "api_requests_per_hour": 1_000,
        "storage_bytes": 1 * GB,
        "bandwidth_bytes_month": 10 * GB,
        "monthly_credits": 3,
        "max_upload_bytes": 50 * MB,
        "max_pixels": 50_000_000,
    },
    "pro": {
        "uploads_per_day": 1_000,
        "api_requests_per_hour": 5_000,
        "storage_bytes": 50 * GB,
        "bandwidth_bytes_month": 500 * GB,
        "monthly_credits": 500,
        "max_upload_bytes": 50 * MB,
        "max_pixels": 50_000_000,
    },
    "enterprise": {
        "uploads_per_day": 10_000,
        "api_requests_per_hour": 20_000,
        "storage_bytes": 500 * GB,
        "bandwidth_bytes_month": 5 * TB,
        "monthly_credits": 5_000,
        "max_upload_bytes": 50 * MB,
        "max_pixels": 50_000_000,
    },
}


async def seed_plans(session: AsyncSession) -> None:
    """Insert the plans that are missing; never overwrite an admin's edits."""
    existing = await PlanRepository(session).names()
    for name, limits in DEFAULT_PLANS.items():
        if name not in existing:
            session.add(Plan(name=name, **limits))
    await session.flush()


async def plan_of(session: AsyncSession, client_id: object) -> Plan:
    plan = await PlanRepository(session).of_client(client_id)
    if plan is None:  # pragma: no cover - seeded at every migration
        raise LookupError("no plans are defined; run `studioflow migrate`")
    return plan
