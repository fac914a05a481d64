"""Sign-in with Google and GitHub against the local fake provider (real HTTP on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from studioflow.app import create_app, served
from studioflow.identity import oauth
from studioflow.models import OAuthIdentity, User
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.conftest import free_port
from tests.fakes.oauth_server import CLIENT_ID, CLIENT_SECRET, FakeOAuth, ServerThread
from tests.identity.helpers import sign_up


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOAuth]:
    fake = FakeOAuth(port=free_port())
    with ServerThread(fake.app(), fake.port):
        yield fake


@pytest.fixture
def oauth_app(settings: Settings, platform: Platform, provider: FakeOAuth) -> FastAPI:
    configured = settings.model_copy(
        update={
            "google_client_id": CLIENT_ID,
            "google_client_secret": CLIENT_SECRET,
            "google_metadata_url": f"{provider.base}/.well-known/openid-configuration",
            "github_client_id": CLIENT_ID,
            "github_client_secret": CLIENT_SECRET,
            "github_base_url": provider.base,
            "github_api_url": f"{provider.base}/api",
        }
    )
    platform.settings = configured
    oauth._metadata_cache.clear()
    provider.fail_token = False
    provider.id_token_overrides = {}
    return create_app(configured, platform=platform, run_worker=False, configure_logs=False)


@pytest.fixture
async def browser(oauth_app: FastAPI) -> Iterator[httpx.AsyncClient]:  # type: ignore[misc]
    transport = httpx.ASGITransport(app=served(oauth_app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def run_flow(
    browser: httpx.AsyncClient, provider: str, *, tamper_state: bool = False
) -> httpx.Response:
    start = await browser.get(f"/api/v1/auth/{provider}")
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]
    async with httpx.AsyncClient() as http:  # the browser visiting the provider
        back = await http.get(authorize)
    assert back.status_code == 302, back.text
    callback = back.headers["location"].removeprefix("http://testserver")
    if tamper_state:
        callback = callback.replace("state=", "state=x")
    return await browser.get(callback)


async def count(platform: Platform, model: type, **where: object) -> int:
    async with platform.db.sessionmaker() as session:
        statement = select(func.count()).select_from(model)
        for key, value in where.items():
            statement = statement.where(getattr(model, key) == value)
        return int(await session.scalar(statement) or 0)


async def test_google_creates_an_account_then_signs_in(
    browser: httpx.AsyncClient, platform: Platform, provider: FakeOAuth
) -> None:
    provider.next_user = {"sub": "google-123", "email": "Gina@Example.com", "email_verified": True}
    landed = await run_flow(browser, "google")
    assert landed.status_code == 303 and landed.headers["location"] == "/start"
    assert "access_token" in landed.cookies
    me = (await browser.get("/api/v1/auth/me")).json()
    assert me["user"]["email"] == "gina@example.com" and me["user"]["email_verified"]
    assert me["memberships"][0]["personal"] is True
    browser.cookies.clear()
    again = await run_flow(browser, "google")
    assert again.status_code == 303 and again.headers["location"] == "/start"
    assert await count(platform, User, email="gina@example.com") == 1
    assert await count(platform, OAuthIdentity, provider="google", subject="google-123") == 1


async def test_no_silent_linking_by_email(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, platform: Platform, provider: FakeOAuth
) -> None:
    await platform.start_worker(concurrency=2, dequeue_timeout=0.1)
    account = await sign_up(client, platform, "hugo@example.com")
    await platform.stop_worker()
    provider.next_user = {"sub": "google-hugo", "email": "hugo@example.com", "email_verified": True}
    landed = await run_flow(browser, "google")
    assert landed.headers["location"] == "/login?oauth=link_required"
    assert "access_token" not in landed.cookies
    assert await count(platform, OAuthIdentity) == 0
    # Signed in to the existing account, the same flow links the identity.
    login = await browser.post(
        "/api/v1/auth/login", json={"identifier": "hugo@example.com", "password": account.password}
    )
    assert login.status_code == 200
    linked = await run_flow(browser, "google")
    assert linked.headers["location"] == "/account"
    assert await count(platform, OAuthIdentity, subject="google-hugo") == 1
    browser.cookies.clear()
    assert (await run_flow(browser, "google")).headers["location"] == "/start"


async def test_state_must_match(browser: httpx.AsyncClient, provider: FakeOAuth) -> None:
    provider.next_user = {
        "sub": "google-state",
        "email": "state@example.com",
        "email_verified": True,
    }
    landed = await run_flow(browser, "google", tamper_state=True)
    assert landed.headers["location"] == "/login?oauth=failed"
    assert "access_token" not in landed.cookies


async def test_the_flow_cookie_is_required(browser: httpx.AsyncClient, provider: FakeOAuth) -> None:
    provider.next_user = {
        "sub": "google-cookie",
        "email": "cookie@example.com",
        "email_verified": True,
    }
    start = await browser.get("/api/v1/auth/google")
    browser.cookies.clear()  # a callback arriving in another browser
    async with httpx.AsyncClient() as http:
        back = await http.get(start.headers["location"])
    landed = await browser.get(back.headers["location"].removeprefix("http://testserver"))
    assert landed.headers["location"] == "/login?oauth=failed"


@pytest.mark.parametrize(
    "override",
    [{"aud": "someone-else"}, {"nonce": "replayed"}, {"iss": "https://evil.example"}, {"exp": 1}],
)
async def test_bad_id_tokens_are_refused(
    browser: httpx.AsyncClient, provider: FakeOAuth, override: dict
) -> None:  # type: ignore[type-arg]
    provider.next_user = {"sub": "google-bad", "email": "bad@example.com", "email_verified": True}
    provider.id_token_overrides = override
    landed = await run_flow(browser, "google")
    assert landed.headers["location"] == "/login?oauth=failed"


async def test_unverified_email_creates_nothing(
    browser: httpx.AsyncClient, platform: Platform, provider: FakeOAuth
) -> None:
    provider.next_user = {
        "sub": "google-unverified",
        "email": "unverified@example.com",
        "email_verified": False,
    }
    assert (await run_flow(browser, "google")).headers["location"] == "/login?oauth=failed"
    assert await count(platform, User, email="unverified@example.com") == 0


async def test_token_endpoint_errors(browser: httpx.AsyncClient, provider: FakeOAuth) -> None:
    provider.next_user = {
        "sub": "google-grant",
        "email": "grant@example.com",
        "email_verified": True,
    }
    provider.fail_token = True
    assert (await run_flow(browser, "google")).headers["location"] == "/login?oauth=failed"
    provider.fail_token = True
    provider.next_user = {"id": 7, "login": "octo", "email": "octo@example.com"}
    assert (await run_flow(browser, "github")).headers["location"] == "/login?oauth=failed"


async def test_github_sign_in(
    browser: httpx.AsyncClient, platform: Platform, provider: FakeOAuth
) -> None:
    provider.next_user = {
        "id": 4242,
        "login": "octocat",
        "email": "octocat@example.com",
        "verified": True,
    }
    landed = await run_flow(browser, "github")
    assert landed.status_code == 303 and landed.headers["location"] == "/start"
    me = (await browser.get("/api/v1/auth/me")).json()
    assert me["user"]["email"] == "octocat@example.com"
    assert await count(platform, OAuthIdentity, provider="github", subject="4242") == 1


async def test_github_unverified_primary_email(
    browser: httpx.AsyncClient, platform: Platform, provider: FakeOAuth
) -> None:
    provider.next_user = {
        "id": 99,
        "login": "shady",
        "email": "shady@example.com",
        "verified": False,
    }
    assert (await run_flow(browser, "github")).headers["location"] == "/login?oauth=failed"


async def test_unconfigured_provider_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/google")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
