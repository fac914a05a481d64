"""Shared fixtures.

Every test that uses ``settings``/``platform``/``client`` runs once per backend:

* ``embedded``: SQLite file, local storage folder, in-process queue, events and limits;
* ``scale``: PostgreSQL + Redis + S3 (a moto server on loopback), when
  ``STUDIOFLOW_TEST_DATABASE_URL`` and ``STUDIOFLOW_TEST_REDIS_URL`` are set (CI sets them).

Each test runs inside a transaction that is rolled back at its end; the app's request
sessions join it through savepoints, so commits at the edge are real but leave no trace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from studioflow.app import create_app, served
from studioflow.platform.db import Database, ReadOnlySession, create_engine
from studioflow.platform.migrations import upgrade
from studioflow.platform.observability import configure_logging
from studioflow.platform.runtime import Platform, build_platform
from studioflow.platform.site_settings import SiteConfig
from studioflow.seeds import seed_reference_data
from studioflow.settings import Settings, normalise_database_url

TEST_DATABASE_URL = os.environ.get("STUDIOFLOW_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("STUDIOFLOW_TEST_REDIS_URL")
TEST_SECRET = "test-secret-" + "k3y-for-the-suite-only-0123456789abcdef"

BACKENDS = ["embedded", "scale"]
# argon2 at its cheapest (production refuses this): a test signs users in by the dozen, and
# at the real cost (64 MiB, t=3) every sign-up and sign-in took ~0.15 s of CPU.
CHEAP_PASSWORDS = {"password_hash_time_cost": 1, "password_hash_memory_kib": 8}


def subprocess_env(**values: str) -> dict[str, str]:
    """The environment for a ``studioflow`` child process: ours without STUDIOFLOW_ settings,
    plus cheap password hashing and ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIOFLOW_")}
    env.update({f"STUDIOFLOW_{k.upper()}": str(v) for k, v in CHEAP_PASSWORDS.items()})
    env.update(values)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str = "testing"
    secret_key: str = "testing"  # moto accepts any key pair
    region: str = "us-east-1"

    def create_bucket(self, name: str) -> None:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        client.create_bucket(Bucket=name)


@pytest.fixture(scope="session", autouse=True)
def _structured_logs() -> None:
    """Logs go through the app's real pipeline (JSON, redaction) into pytest's capture."""
    configure_logging(json_logs=True, level="info")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server on loopback for the whole run."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(endpoint=f"http://127.0.0.1:{port}")
    finally:
        server.stop()


def new_bucket(s3: S3Server) -> str:
    name = f"sf-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(name)
    return name


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "scale" and not (TEST_DATABASE_URL and TEST_REDIS_URL):
        pytest.skip(
            "scale backend: set STUDIOFLOW_TEST_DATABASE_URL and STUDIOFLOW_TEST_REDIS_URL "
            "(PostgreSQL + Redis) to run these tests on it"
        )
    return name


@pytest_asyncio.fixture(scope="session")
async def database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A fresh, migrated database for the run: a SQLite file, or a new PostgreSQL database."""
    if backend == "embedded":
        path = tmp_path_factory.mktemp("db") / "studioflow.db"
        url = f"sqlite+aiosqlite:///{path}"
        yield url
        return
    async with new_postgres_database("sf_test") as url:
        yield url


@contextlib.asynccontextmanager
async def new_postgres_database(prefix: str) -> AsyncIterator[str]:
    """An empty PostgreSQL database of its own on the test server (its URL), dropped after."""
    assert TEST_DATABASE_URL is not None
    import asyncpg

    admin_url = normalise_database_url(TEST_DATABASE_URL).replace(
        "postgresql+asyncpg", "postgresql"
    )
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base, _, _ = admin_url.rpartition("/")
    try:
        yield normalise_database_url(f"{base}/{name}")
    finally:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


@pytest_asyncio.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await upgrade(engine)
    database = Database(engine)
    async with database.transaction() as session:
        await seed_reference_data(session)
    yield engine
    await engine.dispose()


def make_settings(
    backend: str,
    data_dir: Path,
    *,
    database_url: str,
    s3: S3Server | None = None,
    **overrides: object,
) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "data_dir": data_dir,
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "queue_name": f"sf-test-{uuid.uuid4().hex[:8]}",
        "redis_prefix": f"sf-test-{uuid.uuid4().hex[:8]}",
        "base_url": "http://testserver",
        **CHEAP_PASSWORDS,
    }
    if backend == "scale":
        assert s3 is not None
        values.update(
            redis_url=TEST_REDIS_URL,
            storage_url=f"s3://{new_bucket(s3)}",
            s3_endpoint_url=s3.endpoint,
            s3_access_key_id=s3.access_key,
            s3_secret_access_key=s3.secret_key,
            s3_region=s3.region,
        )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(
    backend: str, database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Settings:
    s3 = request.getfixturevalue("s3_server") if backend == "scale" else None
    # Renders at upload run as background jobs, and a job's transaction cannot stand beside
    # the test's own on the shared rolled-back connection: off here, on for `committed`
    # platforms and real servers (tests/media/test_render_at_upload.py, the browser tests).
    return make_settings(
        backend,
        tmp_path / "data",
        database_url=database_url,
        s3=s3,
        media_render_at_upload=False,
    )


@pytest_asyncio.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[Database]:
    """A Database whose sessions all live inside one transaction rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        database = Database(engine)
        database.sessionmaker = async_sessionmaker(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        # Read sessions join the test's transaction without a savepoint of their own (closing
        # one must not roll back what a unit of work released meanwhile) and never commit.
        database.read_sessionmaker = async_sessionmaker(
            bind=connection,
            expire_on_commit=False,
            join_transaction_mode="rollback_only",
            sync_session_class=ReadOnlySession,
        )
        try:
            yield database
        finally:
            if transaction.is_active:
                await transaction.rollback()


@pytest_asyncio.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.sessionmaker() as session:
        yield session


@pytest_asyncio.fixture
async def platform(settings: Settings, db: Database) -> AsyncIterator[Platform]:
    the_platform = build_platform(settings)
    await the_platform.db.dispose()
    the_platform.db = db
    the_platform.site = SiteConfig(db, settings)  # it reads the test's database too
    the_platform.run_crons = False  # one shared connection: no job may start on its own
    try:
        yield the_platform
    finally:
        await the_platform.stop_worker()
        for closer in (the_platform.events.close, the_platform.queue.close):
            await closer()
        if the_platform.redis is not None:
            await the_platform.redis.aclose()


@pytest.fixture
def app(settings: Settings, platform: Platform) -> FastAPI:
    return create_app(settings, platform=platform, run_worker=False, configure_logs=False)


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=served(app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest_asyncio.fixture
async def mail_worker(platform: Platform) -> AsyncIterator[None]:
    """Mail goes through the real queue to the outbox; a worker delivers it."""
    await platform.start_worker(concurrency=4, dequeue_timeout=0.1)
    yield
    await platform.stop_worker()


@pytest_asyncio.fixture(scope="session")
async def committed_template(
    backend: str, engine: AsyncEngine, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated, seeded database to copy from (SQLite file copy, PostgreSQL TEMPLATE)."""
    if backend == "embedded":
        path = tmp_path_factory.mktemp("template") / "template.db"
        template = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(template)
        async with Database(template).transaction() as session:
            await seed_reference_data(session)
        await template.dispose()  # the last connection to close folds the WAL into the file
        yield str(path)
        return
    import asyncpg

    assert TEST_DATABASE_URL is not None
    admin_url = normalise_database_url(TEST_DATABASE_URL).replace(
        "postgresql+asyncpg", "postgresql"
    )
    name = f"sf_tpl_{uuid.uuid4().hex[:8]}"
    source = database_url.rpartition("/")[2]
    await engine.dispose()  # a template must have no open connections
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    finally:
        await connection.close()
    yield name
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest_asyncio.fixture
async def committed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, committed_template: str
) -> AsyncIterator[tuple[Settings, Platform]]:
    """A platform on its own database: no shared test transaction, real concurrent sessions
    (workers, racing requests). Copied from a migrated template, so it is quick."""
    drop: tuple[str, str] | None = None
    if backend == "embedded":
        path = tmp_path / "committed.db"
        shutil.copyfile(committed_template, path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        import asyncpg

        assert TEST_DATABASE_URL is not None
        admin_url = normalise_database_url(TEST_DATABASE_URL).replace(
            "postgresql+asyncpg", "postgresql"
        )
        name = f"sf_run_{uuid.uuid4().hex[:8]}"
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{committed_template}"')
        finally:
            await connection.close()
        url = normalise_database_url(admin_url.rpartition("/")[0] + f"/{name}")
        drop = (admin_url, name)
    s3 = request.getfixturevalue("s3_server") if backend == "scale" else None
    settings = make_settings(backend, tmp_path / "data", database_url=url, s3=s3)
    platform = build_platform(settings)
    try:
        yield settings, platform
    finally:
        await platform.close()
        if drop:
            import asyncpg

            connection = await asyncpg.connect(drop[0])
            try:
                await connection.execute(f'DROP DATABASE IF EXISTS "{drop[1]}" WITH (FORCE)')
            finally:
                await connection.close()
