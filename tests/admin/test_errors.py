"""Unexpected 500s are recorded for the admins (where, what kind, for whom; never the
message or the body) and grouped on the errors page; old ones are pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI
from sqlalchemy import select, update

from studioflow.identity.auth import Authenticator, Principal
from studioflow.models import ErrorEvent
from studioflow.platform import error_log
from studioflow.platform.runtime import Platform
from tests.admin.test_users import PASSPHRASE, make_admin
from tests.factories import create_account

SECRET = "the customer's token sf_do_not_store_me"
Reader = Annotated[Principal, Depends(Authenticator("images:read"))]


async def boom(thing_id: str, principal: Reader) -> None:
    raise RuntimeError(SECRET)


async def test_a_500_is_recorded_without_its_message(
    app: FastAPI, client: httpx.AsyncClient, platform: Platform
) -> None:
    app.add_api_route("/api/v1/test-boom/{thing_id}", boom)
    admin = await make_admin(client, platform, "boss@example.com")
    user = await create_account(client, platform, "unlucky@example.com")
    request_ids = set()
    for _ in range(2):
        answer = await client.get("/api/v1/test-boom/42?token=abc", headers=user.headers)
        assert answer.status_code == 500 and answer.json()["code"] == "internal_error"
        assert SECRET not in answer.text
        request_ids.add(answer.headers["x-request-id"])
    async with platform.db.read() as session:
        events = list((await session.scalars(select(ErrorEvent))).all())
    assert len(events) == 2
    event = events[0]
    assert (event.method, event.route, event.error_type) == (
        "GET",
        "/api/v1/test-boom/{thing_id}",
        "RuntimeError",
    )
    assert str(event.user_id) == user.user_id and str(event.client_id) == user.client_id
    assert {e.request_id for e in events} == request_ids
    stored = " ".join(str(getattr(event, c.key)) for c in ErrorEvent.__table__.columns)
    assert "sf_do_not_store_me" not in stored and "token=abc" not in stored

    listed = await client.get("/api/v1/admin/errors?kind=request", headers=admin.headers)
    assert listed.status_code == 200
    (group,) = listed.json()["groups"]
    assert (group["code"], group["count"], group["route"]) == (
        "RuntimeError",
        2,
        "/api/v1/test-boom/{thing_id}",
    )
    assert (await client.get("/api/v1/admin/errors", headers=user.headers)).status_code == 403
    bad = await client.get("/api/v1/admin/errors?kind=everything", headers=admin.headers)
    assert bad.status_code == 422
    await client.post(
        "/api/v1/auth/login", json={"identifier": admin.email, "password": PASSPHRASE}
    )
    page = await client.get("/admin/errors")
    assert page.status_code == 200 and "/api/v1/test-boom/{thing_id}" in page.text
    client.cookies.clear()

    # Thirty days on, they go.
    async with platform.db.transaction() as session:
        await session.execute(
            update(ErrorEvent).values(occurred_at=datetime.now(UTC) - timedelta(days=31))
        )
    assert await error_log.prune(platform) == 2
