"""The tenancy matrix: every route of the app — the OpenAPI document's endpoints and every
page — called by a user of client B with client A's ids, answers 404 (403 for platform-admin
routes); called by a member whose role lacks the permission the route names, 403. The routes
are walked from the app, so a new endpoint or page is covered without a new test; a path
parameter this file does not know fails the test until it is added to the world.
"""

from __future__ import annotations

import re
import typing
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select

from studioflow.app import MOUNTS
from studioflow.identity.auth import Authenticator
from studioflow.models import (
    AuthSession,
    CreditPack,
    Membership,
    Notification,
    Role,
    SellerProfile,
    SellerStatus,
    WorkflowTemplate,
)
from studioflow.notifications import service as notifications
from studioflow.notifications.content import Message
from studioflow.platform.runtime import Platform
from studioflow.web.auth import Page, html_errors
from tests.factories import create_account
from tests.identity.helpers import Account, wait_for_mail
from tests.media import images

# Endpoints anyone may call (signing up and in); they hold no tenant data.
PUBLIC = {
    "/api/v1/flags",  # API.md: no authentication (public flags)
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
    "/api/v1/booking/{slug}",  # a business's public page (API.md: public reads)
    "/api/v1/booking/artists",  # artists near a place (API.md: public)
    "/api/v1/booking/{slug}/availability",
    # The emailed single-use link's action: its token is the authentication (404 without).
    "/api/v1/appointments/{appointment_id}/manage",
    # The shop's catalogue and the credit packs on sale (API.md: public).
    "/api/v1/products",
    "/api/v1/products/{id_or_slug}",
    "/api/v1/credit-packs",
    "/api/v1/search",
    "/api/v1/products/events",  # live product changes (public, like the products)
    # Stripe's events: its signature is the authentication (404 when not configured).
    "/api/v1/payments/webhook/stripe",
}
ADMIN_PREFIX = "/api/v1/admin/"
# Delivery answers anyone; for a private image without a signature that answer is 404.
OPEN_DELIVERY = {"/i/{image_id}", "/info/{image_id}", "/embed/{image_id}"}


# Pages anyone may open; they hold no tenant data.
PUBLIC_PAGES = {
    "/",
    "/sw.js",  # the Web Push service worker's script
    "/book/{slug}",  # a business's public booking page
    "/shop",  # the storefront and a product on sale
    "/shop/{slug}",
    # The emailed link's page (its token authenticates; 404 without) and where it lands.
    "/appointments/{appointment_id}/manage",
    "/appointments/{appointment_id}/manage/done",
    "/design",
    "/design/toast",
    "/favicon.ico",
    "/signup",
    "/verify",
    "/login",
    "/forgot-password",
    "/reset-password",
    "/invitations/accept",
    "/auth/callback",
    "/api/v1/auth/session",
}
# A client role with no permission at all (roles are rows: custom ones are possible).
NO_PERMISSIONS = "viewer"


@dataclass
class World:
    a: Account
    b: Account
    b_key: str
    ids: dict[str, str]
    # C, a member of A's team whose role grants nothing.
    c: Account
    c_in_team: dict[str, str]


@pytest.fixture
async def world(client: httpx.AsyncClient, platform: Platform) -> World:
    await platform.start_worker(concurrency=2, dequeue_timeout=0.1)
    a = await create_account(client, platform, "tenant-a@example.com")
    b = await create_account(client, platform, "tenant-b@example.com")
    c = await create_account(client, platform, "tenant-c@example.com")
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
    workflow = (await client.get("/api/v1/workflows", headers=a.headers)).json()["items"][0]["id"]
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
    ticket = (
        await client.post(
            "/api/v1/support-tickets",
            json={"subject": "A's trouble", "body": "Only A and the admins read this."},
            headers=a.headers,
        )
    ).json()["id"]
    upload = (
        await client.post(
            "/api/v1/uploads",
            json={"filename": "a.png", "content_type": "image/png", "bytes": 100},
            headers=a.headers,
        )
    ).json()["upload_id"]
    category = (
        await client.post("/api/v1/service-categories", json={"name": "A's"}, headers=a.headers)
    ).json()["id"]
    staff = (
        await client.post(
            "/api/v1/booking/staff",
            json={"user_id": a.user_id, "display_name": "A"},
            headers=a.headers,
        )
    ).json()["id"]
    offered = (
        await client.post(
            "/api/v1/services",
            json={
                "name": "A's service",
                "price": {"amount": 100, "currency": "EUR"},
                "duration_minutes": 30,
                "staff_ids": [staff],
            },
            headers=a.headers,
        )
    ).json()["id"]
    await client.put(
        "/api/v1/booking/profile",
        json={"slug": "a-biz", "name": "A", "timezone": "UTC", "currency": "EUR"},
        headers=a.headers,
    )
    await client.put(
        f"/api/v1/booking/staff/{staff}/hours",
        json=[{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(7)],
        headers=a.headers,
    )
    off = datetime.now(UTC) + timedelta(days=40)
    exception = (
        await client.post(
            f"/api/v1/booking/staff/{staff}/exceptions",
            json={"starts_at": off.isoformat(), "ends_at": (off + timedelta(hours=2)).isoformat()},
            headers=a.headers,
        )
    ).json()["id"]
    day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    slot = (
        await client.get(f"/api/v1/booking/a-biz/availability?service_id={offered}&date={day}")
    ).json()["slots"][0]["start"]
    appointment = (
        await client.post(
            "/api/v1/appointments",
            json={"service_id": offered, "start": slot},
            headers=a.headers,
        )
    ).json()["id"]
    device = (
        await client.post(
            "/api/v1/push-devices",
            json={"platform": "android", "token": "a-phone"},
            headers=a.headers,
        )
    ).json()["id"]
    async with platform.db.transaction() as session:
        await notifications.notify(
            platform,
            session,
            user_id=uuid.UUID(a.user_id),
            event="support.reply",
            key="tenancy",
            message=Message(title="For A", body="only"),
        )
    # A sells (approved directly: the world has no admin) and buys from itself.
    await client.post(
        "/api/v1/seller/apply", json={"display_name": "A shop", "slug": "a-shop"}, headers=a.headers
    )
    async with platform.db.transaction() as session:
        seller = await session.get(SellerProfile, uuid.UUID(a.client_id))
        assert seller is not None
        seller.status = SellerStatus.approved
        pack = CreditPack(name="A pack", credits=5, price_amount=500, currency="EUR")
        session.add(pack)
    product = (
        await client.post(
            "/api/v1/seller/products",
            json={"title": "A's balm", "price": {"amount": 900, "currency": "EUR"}, "stock": 4,
                  "status": "active"},
            headers=a.headers,
        )
    ).json()  # fmt: skip
    await client.post("/api/v1/cart/items", json={"product_id": product["id"]}, headers=a.headers)
    bought = (
        await client.post(
            "/api/v1/orders",
            json={"shipping_address": {"name": "A", "line1": "1", "city": "B",
                                       "postal_code": "1", "country": "DE"}},
            headers=a.headers,
        )
    ).json()  # fmt: skip
    await client.post("/api/v1/cart/items", json={"product_id": product["id"]}, headers=a.headers)
    async with platform.db.sessionmaker() as session:
        template = await session.scalar(select(WorkflowTemplate.id))
        notification = await session.scalar(select(Notification.id))
    async with platform.db.transaction() as session:
        session.add(Role(name=NO_PERMISSIONS, scope="client", description="Sees nothing"))
        await session.flush()
        session.add(
            Membership(client_id=uuid.UUID(team), user_id=uuid.UUID(c.user_id), role=NO_PERMISSIONS)
        )
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
            "queue": "default",
            "job_key": "cron:media.purge_expired",
            "key": "media.archive_download",
            "ticket_id": ticket,
            "upload_id": upload,
            "category_id": category,
            "staff_id": staff,
            "service_id": offered,
            "appointment_id": appointment,
            "exception_id": exception,
            "notification_id": str(notification),
            "device_id": device,
            "slug": "a-biz",
            "product_id": product["id"],
            "id_or_slug": product["slug"],
            "order_id": bought["orders"][0]["id"],
            "payment_id": bought["payment"]["id"],
            "pack_id": str(pack.id),
        },
        c=c,
        c_in_team={**c.headers, "X-Client-Id": team},
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


def _list_bodies() -> set[tuple[str, str]]:
    """The operations whose body is a JSON array (weekly hours): they get ``[]``, the empty
    body of their shape, so the walk reaches the object's lookup instead of a 422."""
    found = set()
    for route in routes():
        field = route.body_field
        if field is not None and typing.get_origin(field.field_info.annotation) is list:
            found.update((method, route.path) for method in route.methods)
    return found


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str],
    template: str = "",
) -> httpx.Response:
    body: object = {} if method in {"POST", "PUT", "PATCH"} else None
    if (method, template) in LIST_BODIES:
        body = []
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
            response = await call(client, method, path, headers, template)
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
            response = await call(client, method, path, h, template)
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
        response = await call(client, method, fill(template, world.ids), {}, template)
        if response.status_code != (404 if template in OPEN_DELIVERY else 401):
            failures.append(f"{method} {template} anonymous: {response.status_code}")
    assert not failures, "\n".join(failures)


def routes() -> list[APIRoute]:
    """Every route the app mounts (``studioflow.app.MOUNTS``: all roles)."""
    return [r for mount in MOUNTS for r in mount.router.routes if isinstance(r, APIRoute)]


LIST_BODIES = _list_bodies()


def pages(app: FastAPI) -> list[str]:
    """Every page route (its router renders errors as HTML pages) that is not public."""
    found = []
    for route in routes():
        if not any(d.call is html_errors for d in route.dependant.dependencies):
            continue
        if "GET" in route.methods and route.path not in PUBLIC_PAGES:
            found.append(route.path)
    return found


def permission_of(route: APIRoute) -> str | None:
    """The permission a route's guard names (API or page), if any."""

    def walk(dependant):  # type: ignore[no-untyped-def]
        for dependency in dependant.dependencies:
            call = dependency.call
            if isinstance(call, Authenticator | Page) and call.permission:
                yield call.permission
            yield from walk(dependency)

    return next(walk(route.dependant), None)


async def browse_as(client: httpx.AsyncClient, account: Account, client_id: str | None) -> None:
    """Sign in the way a browser does (cookies), with ``client_id`` as the active client."""
    client.cookies.clear()
    response = await client.post(
        "/api/v1/auth/login", json={"identifier": account.email, "password": account.password}
    )
    assert response.status_code == 200, response.text
    if client_id:
        client.cookies.set("client_id", client_id)


async def test_the_walk_covers_the_pages(app: FastAPI) -> None:
    found = pages(app)
    assert len(found) >= 15
    assert "/clients/{client_id}/activity" in found and "/studio/executions/{execution_id}" in found


async def test_pages_of_other_clients_objects_answer_404(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    await browse_as(client, world.b, None)
    failures = []
    for template in pages(app):
        if "{" not in template:
            continue
        response = await client.get(fill(template, world.ids), headers={"Accept": "text/html"})
        if response.status_code != 404 or "text/html" not in response.headers["content-type"]:
            failures.append(f"GET {template} as B: {response.status_code}")
    assert not failures, "\n".join(failures)


async def test_pages_ask_anonymous_visitors_to_sign_in(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    client.cookies.clear()
    failures = []
    for template in pages(app):
        response = await client.get(fill(template, world.ids), follow_redirects=False)
        location = response.headers.get("location", "")
        if response.status_code != 303 or not location.startswith("/api/v1/auth/session?next="):
            failures.append(f"GET {template} anonymous: {response.status_code} {location}")
    assert not failures, "\n".join(failures)


async def test_a_role_without_the_permission_is_refused_everywhere(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    """C belongs to A's team with a role that grants nothing: every API route and page that
    names a permission answers 403, whatever the ids."""
    guarded = [
        route
        for route in routes()
        if (permission := permission_of(route)) and permission != "platform:admin"
    ]
    assert len(guarded) >= 30
    failures = []
    for route in guarded:
        path = fill(route.path, {**world.ids, "client_id": world.ids["client_id"]})
        for method in sorted(route.methods - {"HEAD"}):
            if route.include_in_schema:
                response = await call(client, method, path, world.c_in_team, route.path)
                expected_type = "application/problem+json"
            else:
                await browse_as(client, world.c, world.ids["client_id"])
                response = await client.get(path, headers={"Accept": "text/html"})
                client.cookies.clear()
                expected_type = "text/html"
            if response.status_code != 403 or expected_type not in response.headers.get(
                "content-type", ""
            ):
                failures.append(
                    f"{method} {route.path} ({permission_of(route)}): {response.status_code}"
                )
    assert not failures, "\n".join(failures)
