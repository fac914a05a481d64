"""Factories: valid objects with sensible defaults, overridable per test.

``create_user`` flushes into the caller's session. ``create_account`` makes what a finished
sign-up leaves (a verified user with a personal workspace) straight in the database, then
signs in through the API: for tests whose subject is not sign-up itself, which saves the
register → mail job → outbox → verify round trip (the sign-up tests keep ``sign_up``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity.emails import canonical_email, normalise_email
from studioflow.identity.service import create_personal_client
from studioflow.models import User
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.identity.helpers import PASSWORD, Account, sign_in

_sequence = itertools.count(1)


async def create_user(session: AsyncSession, **overrides: Any) -> User:
    n = next(_sequence)
    values: dict[str, Any] = {
        "email": f"user{n}@example.com",
        "username": f"user{n}",
        "first_name": "Test",
        "last_name": f"User {n}",
    }
    values.update(overrides)
    user = User(**values)
    session.add(user)
    await session.flush()
    return user


async def create_account(
    client: httpx.AsyncClient,
    platform: Platform,
    address: str,
    password: str = PASSWORD,
    **profile: Any,
) -> Account:
    """A verified account with its personal workspace, signed in (Bearer tokens)."""
    email = normalise_email(address)
    password_hash = await platform.passwords.hash(password)
    async with platform.db.transaction() as session:
        user = User(
            email=email,
            email_canonical=canonical_email(email),
            password_hash=password_hash,
            email_verified_at=datetime.now(UTC),
            **profile,
        )
        session.add(user)
        await session.flush()
        await create_personal_client(session, user, plan="free")
    return await sign_in(client, email, password)


@contextlib.asynccontextmanager
async def admin_client(
    settings: Settings, platform: Platform, email: str, password: str = "a racing passphrase"
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """An HTTP client of a fresh app on ``platform`` (a ``committed`` one, where requests
    really race) and the Bearer headers of a new platform admin, ``email``."""
    from studioflow.app import create_app, served
    from studioflow.demo import create_admin

    async with platform.db.transaction() as session:
        await create_admin(
            session, email=email, password_hash=await platform.passwords.hash(password)
        )
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=served(app))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", timeout=60
    ) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"identifier": email, "password": password}
        )
        client.cookies.clear()
        yield client, {"Authorization": f"Bearer {login.json()['access_token']}"}


async def bearer_headers(platform: Platform, address: str) -> dict[str, str]:
    """A verified account with its personal workspace and a session started directly (not
    through the sign-in route, whose per-address limit a test of many users would meet):
    its Bearer headers."""
    from studioflow.identity.context import Context
    from studioflow.identity.service import start_session

    email = normalise_email(address)
    async with platform.db.transaction() as session:
        user = User(
            email=email, email_canonical=canonical_email(email), email_verified_at=datetime.now(UTC)
        )
        session.add(user)
        await session.flush()
        await create_personal_client(session, user, plan="free")
        signed = await start_session(
            platform, session, user, method="test", context=Context(ip="127.0.0.1")
        )
    return {"Authorization": f"Bearer {signed.access_token}"}


async def signed_in_admin(
    client: httpx.AsyncClient, platform: Platform, email: str, password: str = "an admin pass 42"
) -> Account:
    """A new platform admin, signed in through ``client`` (Bearer tokens)."""
    from studioflow.demo import create_admin

    async with platform.db.transaction() as session:
        await create_admin(
            session, email=email, password_hash=await platform.passwords.hash(password)
        )
    return await sign_in(client, email, password)
