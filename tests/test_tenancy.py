"""The tenancy matrix: every endpoint in the OpenAPI document, called by a user of client B
with client A's ids, answers 404 (403 for platform-admin routes). The routes are walked from
the document, so a new endpoint is covered without a new test; a path parameter this file
does not know fails the test until it is added to ``A_IDS``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from studioflow.models import AuthSession, WorkflowTemplate
from studioflow.platform.runtime import Platform
from tests.identity.helpers import Account, sign_up, wait_for_mail
from tests.media import images

# Endpoints anyone may call (signing up and in); they hold no tenant data.
PUBLIC = {
    "/api/v1/auth/register",
    "/api/v1/auth/verify-email",
    "/api/v1/auth/resend-code",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/magic-link",
    "/api/v1/auth/magic-link/consume",
    "/api/v1/auth/password/forgot",
    "/api/v1/auth/password/reset",
    "/api/v1/auth/google",
    "/api/v1/auth/google/callback",
    "/api/v1/auth/github",
    "/api/v1/auth/github/callback",
    "/health",
    "/ready",
}
ADMIN_PREFIX = "/api/v1/admin/"
# Delivery answers anyone; for a private image without a signature that answer is 404.
OPEN_DELIVERY = {"/i/{image_id}", "/info/{image_id}", "/embed/{image_id}"}


@dataclass
class World:
    a: Account
    b: Account
    b_key: str
    ids: dict[str, str]


@pytest.fixture
async def world(client: httpx.AsyncClient, platform: Platform) -> World:
    await platform.start_worker(concurrency=2, dequeue_timeout=0.1)
    a = await sign_up(client, platform, "tenant-a@example.com")
    b = await sign_up(client, platform, "tenant-b@example.com")
    team = (
        await client.post("/api/v1/clients", json={"name": "A team"}, headers=a.headers)
    ).json()["id"]
    key = (await client.post("/api/v1/api-keys", json={"key_name": "a"}, headers=a.headers)).json()[
        "id"
    ]
    invitation = (
        await client.post(
            f"/api/v1/clients/{team}/members",
            json={"email": "guest@example.com"},
            headers=a.headers,
        )
    ).json()["id"]
    await wait_for_mail(platform, "guest@example.com", subject="Join")
    b_key = (
        await client.post("/api/v1/api-keys", json={"key_name": "b"}, headers=b.headers)
    ).json()["api_key"]
    png = images.encode("PNG")
    # Private: public images are public on purpose; a private one must not leak.
    uploaded = await client.post(
        "/upload",
        files={"file": ("a.png", png, "image/png")},
        data={"is_public": "false"},
        headers=a.headers,
    )
    image = uploaded.json()["image"]["id"]
    album = (await client.post("/api/v1/albums", json={"title": "A's"}, headers=a.headers)).json()[
        "id"
    ]
    workflow = (await client.get("/api/v1/workflows", headers=a.headers)).json()[0]["id"]
    async with platform.db.sessionmaker() as session:
        a_session = await session.scalar(
            select(AuthSession.id).where(AuthSession.user_id == uuid.UUID(a.user_id))
        )
    await platform.stop_worker()
    # Queued with no worker running: they stay as they are for the matrix.
    execution = (
        await client.post(
            f"/api/v1/workflows/{workflow}/execute",
            json={"prompts": ["A's secret prompt"]},
            headers=a.headers,
        )
    ).json()["execution_id"]
    job = (await client.post("/api/v1/jobs", json={"prompt": "A's job"}, headers=a.headers)).json()[
        "id"
    ]
    request_id = (
        await client.post(
            "/api/v1/workflow-requests",
            json={"title": "A's idea", "description": "Something only A should see."},
            headers=a.headers,
        )
    ).json()["id"]
    async with platform.db.sessionmaker() as session:
        template = await session.scalar(select(WorkflowTemplate.id))
    return World(
        a=a,
        b=b,
        b_key=b_key,
        ids={
            "client_id": team,
            "user_id": a.user_id,
            "key_id": key,
            "invitation_id": invitation,
            "session_id": str(a_session),
            "image_id": image,
            "album_id": album,
            "name": "free",
            "workflow_id": workflow,
            "execution_id": execution,
            "job_id": job,
            "request_id": request_id,
            "template_id": str(template),
        },
    )


def operations(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for path, methods in app.openapi()["paths"].items():
        for method in methods:
            if path not in PUBLIC:
                found.append((method.upper(), path))
    return found


def fill(path: str, ids: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in ids, (
            f"the tenancy matrix does not know path parameter {name!r}: add it to the world"
        )
        return ids[name]

    return re.sub(r"\{([^}]+)\}", value, path)


async def call(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> httpx.Response:
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    return await client.request(method, path, json=body, headers=headers)


def _key_refused(label: str, response: httpx.Response) -> bool:
    return (
        label == "api key"
        and response.status_code == 403
        and response.json().get("code") == "api_key_not_allowed"
    )


def expected(path: str) -> int:
    return 403 if path.startswith(ADMIN_PREFIX) else 404


async def test_the_matrix_covers_the_api(app: FastAPI) -> None:
    ops = operations(app)
    # A floor, so a broken walk (no routes found) cannot pass quietly.
    assert len(ops) >= 25
    assert ("DELETE", "/api/v1/clients/{client_id}/members/{user_id}") in ops


async def test_other_clients_ids_answer_404(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    failures = []
    for method, template in operations(app):
        if "{" not in template:
            continue
        path = fill(template, world.ids)
        for label, headers in (
            ("bearer", world.b.headers),
            ("api key", {"X-API-Key": world.b_key}),
        ):
            response = await call(client, method, path, headers)
            want = expected(template)
            if _key_refused(label, response):
                continue  # refused for being a key, before any object is looked at
            if response.status_code != want:
                detail = response.text[:120]
                failures.append(
                    f"{method} {template} as B ({label}): {response.status_code} {detail}"
                )
    assert not failures, "\n".join(failures)


async def test_naming_another_client_answers_404(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    failures = []
    headers = {**world.b.headers, "X-Client-Id": world.ids["client_id"]}
    key_headers = {"X-API-Key": world.b_key, "X-Client-Id": world.ids["client_id"]}
    for method, template in operations(app):
        path = fill(template, world.ids)
        for label, h in (("bearer", headers), ("api key", key_headers)):
            response = await call(client, method, path, h)
            want = expected(template)
            if _key_refused(label, response):
                continue
            # Naming a foreign client fails before the admin check: 404 is as closed as 403.
            if template.startswith(ADMIN_PREFIX) and response.status_code == 404:
                continue
            if response.status_code != want:
                failures.append(
                    f"{method} {template} as B ({label}) in A's client: {response.status_code}"
                )
    assert not failures, "\n".join(failures)


async def test_a_still_reaches_its_own_objects(client: httpx.AsyncClient, world: World) -> None:
    """The control: the same ids work for their owner, so the 404s above mean something."""
    team = world.ids["client_id"]
    assert (await client.get(f"/api/v1/clients/{team}", headers=world.a.headers)).status_code == 200
    assert (
        await client.get(f"/api/v1/clients/{team}/members", headers=world.a.headers)
    ).status_code == 200
    assert (
        await client.get("/api/v1/auth/me", headers={**world.a.headers, "X-Client-Id": team})
    ).status_code == 200


async def test_anonymous_callers_are_refused(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    failures = []
    for method, template in operations(app):
        if template in {"/docs", "/metrics"}:
            continue
        response = await call(client, method, fill(template, world.ids), {})
        if response.status_code != (404 if template in OPEN_DELIVERY else 401):
            failures.append(f"{method} {template} anonymous: {response.status_code}")
    assert not failures, "\n".join(failures)
