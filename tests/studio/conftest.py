"""Studio tests run on their own database (``committed``): the runner's item transactions
really run concurrently, as in production, which a shared rolled-back connection cannot do."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import func, select, update

from studioflow.app import create_app, served
from studioflow.billing import credits
from studioflow.models import CreditEvent, WorkflowTemplate
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.conftest import free_port, subprocess_env
from tests.factories import create_account
from tests.fakes.image_apis import FakeImageAPIs
from tests.fakes.oauth_server import ServerThread
from tests.identity.helpers import Account


@dataclass
class Studio:
    settings: Settings
    platform: Platform
    client: httpx.AsyncClient
    owner: Account

    @property
    def headers(self) -> dict[str, str]:
        return self.owner.headers

    async def workflow_id(self, account: Account | None = None) -> str:
        who = account or self.owner
        workflows = (await self.client.get("/api/v1/workflows", headers=who.headers)).json()[
            "items"
        ]
        return str(workflows[0]["id"])

    async def execute(
        self, prompts: list[str], account: Account | None = None, **extra: Any
    ) -> str:
        who = account or self.owner
        response = await self.client.post(
            f"/api/v1/workflows/{await self.workflow_id(who)}/execute",
            json={"prompts": prompts, **extra},
            headers=who.headers,
        )
        assert response.status_code == 202, response.text
        return str(response.json()["execution_id"])

    async def wait(
        self, execution_id: str, account: Account | None = None, timeout: float = 60
    ) -> dict[str, Any]:
        who = account or self.owner
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            body: dict[str, Any] = (
                await self.client.get(f"/api/v1/executions/{execution_id}", headers=who.headers)
            ).json()
            if body["status"] in {"completed", "failed", "cancelled"}:
                return body
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"execution still {body['status']}: {body}")
            await asyncio.sleep(0.05)

    async def results(
        self, execution_id: str, account: Account | None = None
    ) -> list[dict[str, Any]]:
        who = account or self.owner
        response = await self.client.get(
            f"/api/v1/executions/{execution_id}/batch-results", headers=who.headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        assert response.json()["next_cursor"] is None  # every item on one page of 50
        return items

    async def balance(self, account: Account | None = None) -> int:
        who = account or self.owner
        async with self.platform.db.transaction() as session:
            return await credits.balance(self.platform.db, session, uuid.UUID(who.client_id))

    async def grant(self, amount: int, account: Account | None = None) -> None:
        who = account or self.owner
        async with self.platform.db.transaction() as session:
            await credits.apply(
                session,
                uuid.UUID(who.client_id),
                amount,
                reason="grant",
                key=f"test:{uuid.uuid4()}",
            )

    async def assert_ledger_balanced(self, account: Account | None = None) -> None:
        """The invariant after every scenario: balance = sum of the ledger, and no key twice."""
        who = account or self.owner
        client_id = uuid.UUID(who.client_id)
        async with self.platform.db.transaction() as session:
            assert await credits.balance(
                self.platform.db, session, client_id
            ) == await credits.ledger_sum(session, client_id)
            keys = (
                await session.execute(
                    select(CreditEvent.idempotency_key, func.count())
                    .where(CreditEvent.client_id == client_id)
                    .group_by(CreditEvent.idempotency_key)
                    .having(func.count() > 1)
                )
            ).all()
            assert keys == []


@pytest_asyncio.fixture
async def studio_app(committed: tuple[Settings, Platform]) -> AsyncIterator[Studio]:
    """The app on its own database, a signed-up owner, and no worker running here."""
    settings, platform = committed
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=served(app), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", timeout=60
    ) as client:
        # Sign-up mail needs a worker for a moment (in this process; at scale it shares the
        # Redis queue, so it stops before the test's own worker processes start).
        await platform.start_worker(concurrency=4, dequeue_timeout=0.05)
        owner = await create_account(client, platform, "maker@example.com")
        await platform.stop_worker()
        yield Studio(settings=settings, platform=platform, client=client, owner=owner)


@pytest_asyncio.fixture
async def studio(studio_app: Studio) -> AsyncIterator[Studio]:
    """As ``studio_app`` with the worker running in this process (as embedded serve does)."""
    await studio_app.platform.start_worker(concurrency=4, dequeue_timeout=0.05)
    yield studio_app
    await studio_app.platform.stop_worker()


def worker_env(settings: Settings, **overrides: object) -> dict[str, str]:
    """Environment for a ``studioflow worker`` process on the same services as ``settings``."""
    assert settings.redis_url is not None
    env = {
        **subprocess_env(),
        "STUDIOFLOW_ENV": "test",
        "STUDIOFLOW_DATA_DIR": str(settings.data_dir),
        "STUDIOFLOW_DATABASE_URL": settings.database_url,
        "STUDIOFLOW_REDIS_URL": settings.redis_url,
        "STUDIOFLOW_QUEUE_NAME": settings.queue_name,
        "STUDIOFLOW_REDIS_PREFIX": settings.redis_prefix,
        "STUDIOFLOW_SECRET_KEY": settings.secret,
        "STUDIOFLOW_STORAGE_URL": settings.storage_url,
        "STUDIOFLOW_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "STUDIOFLOW_S3_ACCESS_KEY_ID": settings.s3_access_key_id or "",
        "STUDIOFLOW_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key or "",
        "STUDIOFLOW_BASE_URL": settings.base_url,
    }
    for name, value in overrides.items():
        env[f"STUDIOFLOW_{name.upper()}"] = str(value)
    return env


@pytest_asyncio.fixture
async def fake_apis() -> AsyncIterator[tuple[FakeImageAPIs, str]]:
    """The fake Gemini + OpenAI server on a loopback port: (its script and log, its URL)."""
    fake = FakeImageAPIs()
    port = free_port()
    with ServerThread(fake.app(), port):
        yield fake, f"http://127.0.0.1:{port}"


async def use_provider(studio: Studio, provider: str, base_url: str) -> None:
    """Point the flagship template at a real provider client talking to the fake server."""
    studio.settings.gemini_base_url = base_url
    studio.settings.openai_base_url = base_url
    model = "gpt-image-1" if provider == "openai" else "gemini-2.5-flash-image"
    async with studio.platform.db.transaction() as session:
        await session.execute(update(WorkflowTemplate).values(provider=provider, model=model))
