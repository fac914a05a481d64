"""The admins' dashboard on a large history (issue 15: well under a second on 100,000 runs).

100,000 runs of 400 workflows in 200 workspaces over 90 days, with their ledger entries
(a spend each, a refund for one in five) and 2,000 accounts; then GET
/api/v1/admin/analytics through the whole app (auth, the read session, every figure) for
the default 30 days and for 90 days, p50 and p95 of 20 requests each. Two baselines in the
same run: a trivial admin GET (/api/v1/admin/flags: the same stack, one tiny query), and
the same dashboard with the creation-time indexes dropped (what the indexes buy). SQLite
always; PostgreSQL too when STUDIOFLOW_BENCH_DATABASE_URL is set (a database of its own,
dropped after).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

from studioflow.app import create_app, served
from studioflow.demo import create_admin
from studioflow.models import (
    Client,
    CreditEvent,
    User,
    Workflow,
    WorkflowExecution,
    WorkflowTemplate,
)
from studioflow.platform.migrations import upgrade
from studioflow.platform.runtime import Platform, build_platform
from studioflow.seeds import seed_reference_data
from studioflow.settings import Settings, normalise_database_url

RUNS = 100_000
CLIENTS = 200
WORKFLOWS = 400
USERS = 2_000
DAYS = 90
REQUESTS = 20
CHUNK = 5_000
PASSWORD = "a bench passphrase 42"
INDEXES = (
    ("ix_workflow_executions_created_at", "workflow_executions"),
    ("ix_credit_events_created_at", "credit_events"),
    ("ix_users_created_at", "users"),
)


async def _fill(platform: Platform) -> None:
    rng = random.Random(15)
    now = datetime.now(UTC)
    async with platform.db.transaction() as session:
        # One workflow of a template per workspace: two templates, two workflows each.
        templates = [
            WorkflowTemplate(
                name=f"Bench template {i}",
                provider="placeholder",
                model="placeholder",
                price_credits=1,
            )
            for i in range(WORKFLOWS // CLIENTS)
        ]
        session.add_all(templates)
        await session.flush()
        clients = [{"id": uuid.uuid4(), "name": f"Workspace {i}"} for i in range(CLIENTS)]
        await session.execute(insert(Client), clients)
        workflows = [
            {
                "id": uuid.uuid4(),
                "client_id": clients[i % CLIENTS]["id"],
                "template_id": templates[i // CLIENTS].id,
                "name": f"Workflow {i}",
            }
            for i in range(WORKFLOWS)
        ]
        await session.execute(insert(Workflow), workflows)
        await session.execute(
            insert(User),
            [
                {
                    "id": uuid.uuid4(),
                    "email": f"user{i}@bench.example",
                    "created_at": now - timedelta(days=rng.uniform(0, 365)),
                }
                for i in range(USERS)
            ],
        )
    for start in range(0, RUNS, CHUNK):
        runs: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for _ in range(min(CHUNK, RUNS - start)):
            workflow = workflows[rng.randrange(WORKFLOWS)]
            total = rng.randint(1, 20)
            failed = rng.randint(0, total) if rng.random() < 0.2 else 0
            created = now - timedelta(seconds=rng.uniform(0, DAYS * 86_400))
            run_id = uuid.uuid4()
            runs.append(
                {
                    "id": run_id,
                    "client_id": workflow["client_id"],
                    "workflow_id": workflow["id"],
                    "status": "failed" if failed == total else "completed",
                    "provider": "placeholder",
                    "model": "placeholder",
                    "total": total,
                    "completed": total - failed,
                    "failed": failed,
                    "price_credits": 1,
                    "credits_reserved": total,
                    "credits_refunded": failed,
                    "cost_micro_usd": (total - failed) * 39_000,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            events.append(
                {
                    "id": uuid.uuid4(),
                    "client_id": workflow["client_id"],
                    "delta": -total,
                    "reason": "execution",
                    "idempotency_key": f"run:{run_id}",
                    "balance_after": 0,
                    "created_at": created,
                }
            )
            if failed:
                events.append(
                    {
                        "id": uuid.uuid4(),
                        "client_id": workflow["client_id"],
                        "delta": failed,
                        "reason": "refund",
                        "idempotency_key": f"refund:{run_id}",
                        "balance_after": 0,
                        "created_at": created,
                    }
                )
        async with platform.db.transaction() as session:
            await session.execute(insert(WorkflowExecution), runs)
            await session.execute(insert(CreditEvent), events)


async def _times(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> dict[str, float]:
    seconds = []
    for _ in range(REQUESTS + 2):
        started = time.perf_counter()
        answer = await client.get(path, headers=headers)
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
    seconds = sorted(seconds[2:])  # the first two warm the caches
    return {
        "p50_ms": round(statistics.median(seconds) * 1000, 1),
        "p95_ms": round(seconds[int(len(seconds) * 0.95) - 1] * 1000, 1),
    }


async def _measure(settings: Settings) -> dict[str, Any]:
    platform = build_platform(settings)
    await upgrade(platform.db.engine)
    async with platform.db.transaction() as session:
        await seed_reference_data(session)
        await create_admin(
            session,
            email="boss@bench.example",
            password_hash=await platform.passwords.hash(PASSWORD),
        )
    started = time.perf_counter()
    await _fill(platform)
    filled = time.perf_counter() - started
    async with platform.db.transaction() as session:
        await session.execute(text("ANALYZE"))
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=served(app))
    results: dict[str, Any] = {"fill_seconds": round(filled, 1)}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=120
        ) as client:
            login = await client.post(
                "/api/v1/auth/login",
                json={"identifier": "boss@bench.example", "password": PASSWORD},
            )
            client.cookies.clear()
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            since = (datetime.now(UTC) - timedelta(days=DAYS - 1)).date()
            results["trivial_admin_get"] = await _times(client, "/api/v1/admin/flags", headers)
            results["dashboard_30d"] = await _times(client, "/api/v1/admin/analytics", headers)
            results["dashboard_90d"] = await _times(
                client, f"/api/v1/admin/analytics?from={since}", headers
            )
            async with platform.db.transaction() as session:
                for name, _ in INDEXES:
                    await session.execute(text(f"DROP INDEX {name}"))
            results["dashboard_30d_without_indexes"] = await _times(
                client, "/api/v1/admin/analytics", headers
            )
    finally:
        await platform.close()
    base = results["trivial_admin_get"]["p50_ms"]
    results["ratio_30d_to_trivial"] = round(results["dashboard_30d"]["p50_ms"] / base, 1)
    results["ratio_without_to_with_indexes"] = round(
        results["dashboard_30d_without_indexes"]["p50_ms"] / results["dashboard_30d"]["p50_ms"],
        2,
    )
    return results


@asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[str]:
    import asyncpg

    admin = normalise_database_url(url).replace("postgresql+asyncpg", "postgresql")
    name = f"sf_bench_admin_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield normalise_database_url(admin.rpartition("/")[0] + f"/{name}")
    finally:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


async def run() -> dict[str, object]:
    from studioflow.platform.observability import configure_logging

    configure_logging(json_logs=True, level="warning")
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(
            data_dir=root / "data",
            secret_key="b" * 8 + uuid.uuid4().hex,
            database_url=f"sqlite+aiosqlite:///{root / 'bench.db'}",
        )
        results["sqlite"] = await _measure(settings)
        print("dashboard/sqlite", results["sqlite"], flush=True)
        database_url = os.environ.get("STUDIOFLOW_BENCH_DATABASE_URL")
        if database_url:
            async with _postgres(database_url) as url:
                pg = settings.model_copy(update={"database_url": url})
                results["postgresql"] = await _measure(pg)
            print("dashboard/postgresql", results["postgresql"], flush=True)
    return results
