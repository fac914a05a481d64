"""The admins' dashboard figures and finances (issue 15): cards, trend, top workflows and
workspaces, recent failures over a range of days; finances by day, workspace and workflow,
as JSON and CSV. Runs and ledger entries are written directly with chosen dates, so every
figure is known in advance."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import update

from studioflow.billing import credits
from studioflow.models import (
    Client,
    CreditEvent,
    ExecutionStatus,
    Workflow,
    WorkflowExecution,
    WorkflowTemplate,
)
from studioflow.platform.runtime import Platform
from tests.admin.test_users import PASSPHRASE, make_admin
from tests.factories import create_account
from tests.identity.helpers import PASSWORD

TODAY = datetime.now(UTC).date()


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


async def a_workflow(platform: Platform, client_id: str, name: str) -> uuid.UUID:
    async with platform.db.transaction() as session:
        template = WorkflowTemplate(
            name=f"{name} template {uuid.uuid4().hex[:6]}",
            provider="placeholder",
            model="placeholder",
            price_credits=1,
        )
        session.add(template)
        await session.flush()
        workflow = Workflow(client_id=uuid.UUID(client_id), template_id=template.id, name=name)
        session.add(workflow)
        await session.flush()
        return workflow.id


async def a_run(
    platform: Platform,
    client_id: str,
    workflow_id: uuid.UUID,
    created: datetime,
    *,
    completed: int,
    failed: int,
    cost_micro_usd: int,
) -> uuid.UUID:
    """A finished run and its ledger entries (reserved, then failed items refunded)."""
    total = completed + failed
    async with platform.db.transaction() as session:
        run = WorkflowExecution(
            client_id=uuid.UUID(client_id),
            workflow_id=workflow_id,
            status=ExecutionStatus.failed if completed == 0 else ExecutionStatus.completed,
            provider="placeholder",
            model="placeholder",
            total=total,
            completed=completed,
            failed=failed,
            price_credits=1,
            credits_reserved=total,
            credits_refunded=failed,
            cost_micro_usd=cost_micro_usd,
            error_code="all_failed" if completed == 0 else None,
            created_at=created,
        )
        session.add(run)
        await session.flush()
        await credits.apply(session, run.client_id, -total, reason="execution", key=f"run:{run.id}")
        if failed:
            await credits.apply(
                session, run.client_id, failed, reason="refund", key=f"refund:{run.id}"
            )
        await session.execute(
            update(CreditEvent)
            .where(CreditEvent.idempotency_key.in_([f"run:{run.id}", f"refund:{run.id}"]))
            .values(created_at=created)
        )
        return run.id


async def test_the_dashboard_counts_what_happened_in_the_range(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    alice = await create_account(client, platform, "alice@example.com")
    bob = await create_account(client, platform, "bob@example.com")
    async with platform.db.transaction() as session:
        await credits.apply(session, uuid.UUID(alice.client_id), 100, reason="grant", key="a")
        await credits.apply(session, uuid.UUID(bob.client_id), 100, reason="grant", key="b")
    portraits = await a_workflow(platform, alice.client_id, "Portraits")
    banners = await a_workflow(platform, bob.client_id, "Banners")
    yesterday = TODAY - timedelta(days=1)
    await a_run(platform, alice.client_id, portraits, at(yesterday), completed=8, failed=2,
                cost_micro_usd=390_000)  # fmt: skip
    await a_run(platform, alice.client_id, portraits, at(TODAY, 0), completed=4, failed=0,
                cost_micro_usd=156_000)  # fmt: skip
    failed = await a_run(platform, bob.client_id, banners, at(TODAY, 0), completed=0,
                         failed=3, cost_micro_usd=0)  # fmt: skip
    # Outside the range: 40 days ago.
    await a_run(platform, bob.client_id, banners, at(TODAY - timedelta(days=40)), completed=50,
                failed=0, cost_micro_usd=1_950_000)  # fmt: skip

    answer = await client.get("/api/v1/admin/analytics", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["from"], body["to"]) == (
        (TODAY - timedelta(days=29)).isoformat(),
        TODAY.isoformat(),
    )
    cards = body["cards"]
    assert cards["users"] == 3 and cards["new_users"] == 3
    assert cards["executions"] == 3 and cards["active_clients"] == 2
    assert (cards["items_completed"], cards["items_failed"]) == (12, 5)
    assert cards["success_rate"] == round(12 / 17, 4)
    assert cards["credits_spent"] == 12  # 17 reserved, 5 refunded
    assert Decimal(cards["provider_cost_usd"]) == Decimal("0.546")
    assert cards["revenue"] == {"amount": "1.20", "currency": "USD"}  # 12 x 0.10
    trend = {day["date"]: day for day in body["trend"]}
    assert len(trend) == 30
    assert trend[yesterday.isoformat()]["executions"] == 1
    assert trend[yesterday.isoformat()]["credits_spent"] == 8
    assert trend[yesterday.isoformat()]["success_rate"] == 0.8
    assert trend[TODAY.isoformat()]["items_failed"] == 3
    assert trend[(TODAY - timedelta(days=5)).isoformat()]["executions"] == 0
    assert [w["name"] for w in body["top_workflows"]] == ["Portraits", "Banners"]
    assert body["top_workflows"][0]["credits_spent"] == 12
    assert [c["executions"] for c in body["top_clients"]] == [2, 1]
    assert body["recent_failures"][0]["execution_id"] == str(failed)
    assert len(body["recent_failures"]) == 2  # the failed run and the one with 2 failed items

    # The price of a credit is a setting; the revenue follows it.
    await client.put(
        "/api/v1/admin/settings",
        json={"credit_price_cents": 250, "currency": "EUR"},
        headers=admin.headers,
    )
    priced = (await client.get("/api/v1/admin/analytics", headers=admin.headers)).json()
    assert priced["cards"]["revenue"] == {"amount": "30.00", "currency": "EUR"}

    # A chosen range.
    old = (TODAY - timedelta(days=40)).isoformat()
    back = await client.get(f"/api/v1/admin/analytics?from={old}&to={old}", headers=admin.headers)
    assert back.json()["cards"]["executions"] == 1
    assert back.json()["cards"]["new_users"] == 0
    for query, code in (
        (f"from={TODAY}&to={TODAY - timedelta(days=1)}", "invalid_range"),
        (f"from={TODAY - timedelta(days=400)}&to={TODAY}", "invalid_range"),
        ("from=9999-12-31", "invalid_range"),  # no date arithmetic past the calendar
        ("to=0001-01-01", "invalid_range"),
        ("from=yesterday", "validation_error"),
    ):
        bad = await client.get(f"/api/v1/admin/analytics?{query}", headers=admin.headers)
        assert bad.status_code == 422 and bad.json()["code"] == code, query
    refused = await client.get("/api/v1/admin/analytics", headers=alice.headers)
    assert refused.status_code == 403
    assert (await client.get("/api/v1/admin/analytics")).status_code == 401


async def test_finances_by_day_workspace_and_workflow_and_as_csv(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    admin = await make_admin(client, platform, "boss@example.com")
    alice = await create_account(client, platform, "alice@example.com")
    async with platform.db.transaction() as session:
        await session.execute(
            update(Client)
            .where(Client.id == uuid.UUID(alice.client_id))
            .values(name='=HYPERLINK("http://evil.example")')
        )
        await credits.apply(
            session, uuid.UUID(alice.client_id), 20, reason="admin_grant", key="grant"
        )
        await session.execute(update(CreditEvent).values(created_at=at(TODAY, 1)))
    portraits = await a_workflow(platform, alice.client_id, "Portraits")
    await a_run(platform, alice.client_id, portraits, at(TODAY, 2), completed=5, failed=1,
                cost_micro_usd=234_000)  # fmt: skip

    by_day = await client.get(
        f"/api/v1/admin/finances?from={TODAY}&to={TODAY}", headers=admin.headers
    )
    assert by_day.status_code == 200, by_day.text
    (day,) = by_day.json()["rows"]
    # Granted: alice's 3 sign-up credits (her account opened today) and the 20; the admin's
    # workspace never used credits, so it has no account yet.
    assert day["key"] == TODAY.isoformat() and day["credits_granted"] == 3 + 20
    assert (day["credits_spent"], day["credits_refunded"]) == (6, 1)
    assert day["revenue"] == "0.50" and Decimal(day["provider_cost_usd"]) == Decimal("0.234")
    assert Decimal(day["margin"]) == Decimal("0.266")

    by_client = (
        await client.get("/api/v1/admin/finances?group_by=client", headers=admin.headers)
    ).json()
    row = next(r for r in by_client["rows"] if r["key"] == alice.client_id)
    assert (row["credits_granted"], row["credits_spent"], row["revenue"]) == (23, 6, "0.50")
    assert by_client["totals"]["credits_granted"] == 23

    by_workflow = (
        await client.get("/api/v1/admin/finances?group_by=workflow", headers=admin.headers)
    ).json()
    (flow,) = by_workflow["rows"]
    assert flow["key"] == str(portraits) and flow["credits_granted"] is None
    assert flow["label"].startswith("Portraits (")

    exported = await client.get(
        "/api/v1/admin/finances?group_by=client&format=csv", headers=admin.headers
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert table[-1]["key"] == "total" and table[-1]["credits_granted"] == "23"
    evil = next(r for r in table if r["key"] == alice.client_id)
    assert evil["label"].startswith("'=HYPERLINK")  # never a formula in a spreadsheet
    # EUR: no margin, rather than one mixing currencies.
    await client.put("/api/v1/admin/settings", json={"currency": "EUR"}, headers=admin.headers)
    euro = (await client.get("/api/v1/admin/finances", headers=admin.headers)).json()
    assert euro["totals"]["margin"] is None and euro["totals"]["currency"] == "EUR"
    assert (
        await client.get("/api/v1/admin/finances?group_by=plan", headers=admin.headers)
    ).status_code == 422
    assert (await client.get("/api/v1/admin/finances", headers=alice.headers)).status_code == 403


async def test_the_dashboard_and_finances_pages_draw_the_figures(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await make_admin(client, platform, "boss@example.com")
    alice = await create_account(client, platform, "alice@example.com")
    portraits = await a_workflow(platform, alice.client_id, "Portraits")
    await a_run(platform, alice.client_id, portraits, at(TODAY, 3), completed=2, failed=1,
                cost_micro_usd=78_000)  # fmt: skip
    await client.post(
        "/api/v1/auth/login", json={"identifier": "boss@example.com", "password": PASSPHRASE}
    )
    page = await client.get("/admin")
    assert page.status_code == 200, page.text
    main = page.text.split("<main", 1)[1]
    assert 'aria-current="page"' in page.text and ">Overview<" in page.text
    assert main.count('<svg class="chart"') == 3  # runs, success rate, revenue
    assert "<polyline" in main and "66.7%" in main  # 2 of 3 items, on the rate line
    assert "Portraits" in main and "all_failed" not in main
    assert (await client.get("/admin?days=7")).status_code == 200
    assert (await client.get("/admin?from=2026-13-01")).status_code == 422
    finances = await client.get("/admin/finances?group_by=workflow")
    assert finances.status_code == 200 and "Portraits (" in finances.text
    assert "format=csv" in finances.text
    client.cookies.clear()
    await create_account(client, platform, "plain@example.com")
    await client.post(
        "/api/v1/auth/login",
        json={"identifier": "plain@example.com", "password": PASSWORD},
    )
    assert (await client.get("/admin")).status_code in (403, 404)
