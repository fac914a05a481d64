"""Studio: the execution pipeline's own cost, the shared provider limit, worker memory.

1. Queue overhead: 1,000 single-item executions on a zero-latency provider, submitted through
   the HTTP API; items per second and p50/p99 from execute to completed. Embedded always: the
   real embedded server (`studioflow serve`: SQLite, in-process queue and worker, one process)
   with the clients in this process; and the worker alone, in this process. At scale
   (PostgreSQL + Redis: an API process, `studioflow serve --role api`, and two
   `studioflow worker` processes) when STUDIOFLOW_BENCH_DATABASE_URL and
   STUDIOFLOW_BENCH_REDIS_URL are set. The machine's speed varies from run to run (shared
   cores), so the embedded rows also measure a bare Starlette app in the same run, before and
   after, and give items/s as a ratio to its requests/s.
2. Limiter accuracy (scale only): limit 60/min, three worker processes, two minutes of calls;
   the calls in every 60-second window.
3. Memory (scale only): a 500-item placeholder batch; the worker process's peak RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, update
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.proc import peak_rss_kb
from studioflow.app import create_app, served
from studioflow.billing import credits
from studioflow.demo import create_admin
from studioflow.models import BatchResult, Client, WorkflowExecution, WorkflowTemplate
from studioflow.platform.migrations import upgrade
from studioflow.platform.runtime import Platform, build_platform
from studioflow.seeds import seed_reference_data
from studioflow.settings import Settings

EXECUTIONS = 1000
IDLE_SECONDS = 30
SUBMITTERS = 8
PASSWORD = "a bench passphrase 42"
BENCH_WORKER = [sys.executable, "-m", "bench.studio_worker"]


async def _prepare(platform: Platform, provider: str, grant: int) -> uuid.UUID:
    await upgrade(platform.db.engine)
    password_hash = await platform.passwords.hash(PASSWORD)
    async with platform.db.transaction() as session:
        await seed_reference_data(session)
        user = await create_admin(session, email="bench@example.com", password_hash=password_hash)
        await session.execute(update(WorkflowTemplate).values(provider=provider))
        # The bench is one client hammering the API: the enterprise plan's hourly limit.
        await session.execute(
            update(Client).where(Client.personal_owner_id == user.id).values(plan="enterprise")
        )
    async with platform.db.transaction() as session:
        client_id = await session.scalar(
            select(Client.id).where(Client.personal_owner_id == user.id)
        )
        assert client_id is not None
        await credits.apply(session, client_id, grant, reason="grant", key=f"bench:{client_id}")
    return client_id


async def _token(client: httpx.AsyncClient) -> dict[str, str]:
    login = await client.post(
        "/api/v1/auth/login", json={"identifier": "bench@example.com", "password": PASSWORD}
    )
    client.cookies.clear()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def _submit_all(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> float:
    workflow = (await client.get("/api/v1/workflows", headers=headers)).json()["items"][0]["id"]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def submitter() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            response = await client.post(
                f"/api/v1/workflows/{workflow}/execute",
                json={"prompts": [f"bench item {i}"]},
                headers=headers,
            )
            assert response.status_code == 202, response.text

    started = time.perf_counter()
    await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
    return time.perf_counter() - started


async def _drain(
    platform: Platform, n: int, timeout: float, *, steady: bool = False
) -> dict[str, float]:
    """Wait for ``n`` completed executions. The rate runs from the first execute to the last
    completion, or with ``steady`` from the first completion to the last (a worker's own
    pace, its start-up excluded)."""
    deadline = time.monotonic() + timeout
    done = WorkflowExecution.status == "completed"
    while time.monotonic() < deadline:
        # Counting only: reading every finished row four times a second cost the worker
        # being measured (in this process) a tenth of its time.
        async with platform.db.transaction() as session:
            count = await session.scalar(select(func.count()).where(done))
        if (count or 0) >= n:
            break
        await asyncio.sleep(0.25)
    async with platform.db.transaction() as session:
        rows = (
            await session.execute(
                select(WorkflowExecution.created_at, WorkflowExecution.completed_at).where(done)
            )
        ).all()
    return _rates([(a, b) for a, b in rows], steady=steady)


async def calibration() -> float:
    """Requests/s of a bare Starlette app in this process: the same-run yardstick. The median
    of seven short runs: the machine's speed moves within seconds (shared cores)."""
    from bench.platform_bench import _rps

    async def health(_: Any) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    bare = Starlette(routes=[Route("/health", health)])
    return statistics.median([await _rps(bare, 1000) for _ in range(7)])


Measure = Callable[..., Awaitable[dict[str, float]]]


def against_bare_app(measure: Measure) -> Measure:
    """Run ``measure`` between two calibrations and add ``bare_rps`` (their mean) and
    ``ratio`` (its items/s per bare request/s)."""

    @functools.wraps(measure)
    async def measured(*args: Any, **kwargs: Any) -> dict[str, float]:
        before = await calibration()
        result = await measure(*args, **kwargs)
        after = await calibration()
        result["bare_rps"] = (before + after) / 2
        result["ratio"] = result["items_per_s"] / result["bare_rps"]
        return result

    return measured


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _embedded_settings(tmp: str) -> Settings:
    return Settings(
        env="test",
        data_dir=Path(tmp),
        database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
        secret_key="bench-secret-" + "x" * 40,
        log_level="WARNING",
        rate_limit_per_ip="100000/minute",
    )


def _completions(path: Path) -> list[tuple[datetime, datetime]]:
    """Created and completed times of completed executions, read with the standard library
    (a reader in WAL mode never blocks the server's writers)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT created_at, completed_at FROM workflow_executions WHERE status = 'completed'"
        ).fetchall()
    return [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in rows]


def _rates(rows: list[tuple[datetime, datetime]], *, steady: bool) -> dict[str, float]:
    latencies = sorted((done - created).total_seconds() for created, done in rows)
    first = min(done for _, done in rows) if steady else min(created for created, _ in rows)
    last = max(done for _, done in rows)
    span = (last - first).total_seconds()
    counted = len(rows) - 1 if steady else len(rows)
    return {
        "completed": len(rows),
        "items_per_s": counted / span if span else 0.0,
        "p50_s": latencies[len(latencies) // 2],
        "p99_s": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


@against_bare_app
async def queue_overhead_embedded() -> dict[str, float]:
    """The embedded server as `make run` starts it, clients in this process: execute to
    completed."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = _embedded_settings(tmp)
        platform = build_platform(settings)
        await _prepare(platform, "instant", EXECUTIONS)
        await platform.close()
        port = _free_port()
        env = {
            **os.environ,
            "STUDIOFLOW_ENV": "test",
            "STUDIOFLOW_DATA_DIR": tmp,
            "STUDIOFLOW_DATABASE_URL": settings.database_url,
            "STUDIOFLOW_SECRET_KEY": settings.secret,
            "STUDIOFLOW_LOG_LEVEL": "WARNING",
            "STUDIOFLOW_RATE_LIMIT_PER_IP": "100000/minute",
        }
        server = _serve(env, port)
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                await _until_healthy(client)
                headers = await _token(client)
                submit = await _submit_all(client, headers, EXECUTIONS)
            database = Path(tmp) / "bench.db"
            deadline = time.monotonic() + 600
            while len(rows := _completions(database)) < EXECUTIONS:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.25)
        finally:
            _stop([server])
    result = _rates(rows, steady=False)
    result["submit_s"] = submit
    return result


@against_bare_app
async def queue_drain_embedded() -> dict[str, float]:
    """The worker alone, in this process: 1,000 executions queued first, then it starts."""
    from bench.studio_worker import register

    register()
    with tempfile.TemporaryDirectory() as tmp:
        settings = _embedded_settings(tmp)
        platform = build_platform(settings)
        await _prepare(platform, "instant", EXECUTIONS)
        app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
        transport = httpx.ASGITransport(app=served(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers = await _token(client)
            submit = await _submit_all(client, headers, EXECUTIONS)
        await platform.start_worker(dequeue_timeout=0.05)
        result = await _drain(platform, EXECUTIONS, timeout=600, steady=True)
        await platform.close()
    result["submit_s"] = submit
    return result


def _serve(env: dict[str, str], port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*BENCH_WORKER, "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _env_of(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "STUDIOFLOW_ENV": "test",
        "STUDIOFLOW_DATA_DIR": str(settings.data_dir),
        "STUDIOFLOW_DATABASE_URL": settings.database_url,
        "STUDIOFLOW_REDIS_URL": settings.redis_url or "",
        "STUDIOFLOW_QUEUE_NAME": settings.queue_name,
        "STUDIOFLOW_REDIS_PREFIX": settings.redis_prefix,
        "STUDIOFLOW_SECRET_KEY": settings.secret,
        "STUDIOFLOW_LOG_LEVEL": "WARNING",
    }


def _spawn(settings: Settings, *, count: int, **overrides: object) -> list[subprocess.Popen[bytes]]:
    env = _env_of(settings)
    for name, value in overrides.items():
        env[f"STUDIOFLOW_{name.upper()}"] = str(value)
    return [
        subprocess.Popen(
            BENCH_WORKER, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(count)
    ]


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


async def _scale_platform(
    tmp: str, database_url: str, redis_url: str
) -> tuple[Settings, Platform, str]:
    import asyncpg

    admin = database_url.replace("postgresql+asyncpg", "postgresql")
    name = f"sf_bench_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(admin)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    settings = Settings(
        env="test",
        data_dir=Path(tmp),
        database_url=admin.rpartition("/")[0] + f"/{name}",
        redis_url=redis_url,
        queue_name=f"bench-{uuid.uuid4().hex[:6]}",
        redis_prefix=f"bench-{uuid.uuid4().hex[:6]}",
        secret_key="bench-secret-" + "x" * 40,
        log_level="WARNING",
        rate_limit_per_ip="100000/minute",
    )
    return settings, build_platform(settings), name


async def _drop(database_url: str, name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await connection.close()


@against_bare_app
async def queue_overhead_scale(database_url: str, redis_url: str) -> dict[str, float]:
    """End to end as deployed: an API process (`studioflow serve --role api`), two worker
    processes, the clients in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        settings, platform, name = await _scale_platform(tmp, database_url, redis_url)
        processes: list[subprocess.Popen[bytes]] = []
        try:
            await _prepare(platform, "instant", EXECUTIONS)
            processes = _spawn(settings, count=2)
            port = _free_port()
            env = {**_env_of(settings), "STUDIOFLOW_RATE_LIMIT_PER_IP": "100000/minute"}
            processes.append(_serve(env, port, "--role", "api"))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                await _until_healthy(client)
                headers = await _token(client)
                submit = await _submit_all(client, headers, EXECUTIONS)
            result = await _drain(platform, EXECUTIONS, timeout=600)
            result["submit_s"] = submit
        finally:
            _stop(processes)
            await platform.close()
            await _drop(database_url, name)
    return result


async def _until_healthy(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/health")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("the server did not come up")


@against_bare_app
async def queue_drain_scale(database_url: str, redis_url: str) -> dict[str, float]:
    """Two worker processes alone: 1,000 executions queued first, then the workers start."""
    with tempfile.TemporaryDirectory() as tmp:
        settings, platform, name = await _scale_platform(tmp, database_url, redis_url)
        workers: list[subprocess.Popen[bytes]] = []
        try:
            await _prepare(platform, "instant", EXECUTIONS)
            app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
            transport = httpx.ASGITransport(app=served(app))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                headers = await _token(client)
                submit = await _submit_all(client, headers, EXECUTIONS)
            workers = _spawn(settings, count=2)
            result = await _drain(platform, EXECUTIONS, timeout=600, steady=True)
            result["submit_s"] = submit
        finally:
            _stop(workers)
            await platform.close()
            await _drop(database_url, name)
    return result


async def limiter_accuracy(
    database_url: str, redis_url: str, *, seconds: float = 120
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        calls = Path(tmp) / "calls.log"
        settings, platform, name = await _scale_platform(tmp, database_url, redis_url)
        try:
            client_id = await _prepare(platform, "counting", 1000)
            workers = _spawn(
                settings,
                count=3,
                studio_provider_rate_per_minute=60,
                bench_calls_file=calls,
            )
            app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
            transport = httpx.ASGITransport(app=served(app))
            try:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bench"
                ) as client:
                    headers = await _token(client)
                    workflow = (await client.get("/api/v1/workflows", headers=headers)).json()[
                        "items"
                    ][0]["id"]
                    # What the three workers cost doing nothing (polling, sweeps, heartbeats):
                    # the same-run baseline subtracted from the work below.
                    await asyncio.sleep(5)
                    idle_start = sum(_cpu_seconds(w.pid) for w in workers)
                    await asyncio.sleep(IDLE_SECONDS)
                    idle_rate = (sum(_cpu_seconds(w.pid) for w in workers) - idle_start) / (
                        IDLE_SECONDS
                    )
                    for batch in range(3):  # more demand than the limit, from three executions
                        await client.post(
                            f"/api/v1/workflows/{workflow}/execute",
                            json={"prompts": [f"limit {batch}-{i}" for i in range(200)]},
                            headers=headers,
                        )
                    while not calls.exists() or len(calls.read_text().split()) < 2:  # noqa: ASYNC110 - another process writes it
                        await asyncio.sleep(0.5)
                    cpu_start = sum(_cpu_seconds(w.pid) for w in workers)
                    await asyncio.sleep(seconds)
                    cpu_end = sum(_cpu_seconds(w.pid) for w in workers)
            finally:
                _stop(workers)
            assert client_id
        finally:
            await platform.close()
            await _drop(database_url, name)
        stamps = sorted(float(x) for x in calls.read_text().split())
    start = stamps[0]
    stamps = [t for t in stamps if t <= start + seconds]
    windows = []
    t = start
    while t + 60 <= start + seconds:
        windows.append(sum(1 for s in stamps if t <= s < t + 60))
        t += 0.5
    return {
        "calls": len(stamps),
        "windows": len(windows),
        "max_per_60s": max(windows),
        "min_per_60s": min(windows),
        # The three workers' CPU over the window per call (idle polling included), and the
        # same less what they spend idle: our own work per item (goal <= 5 ms).
        "worker_cpu_ms_per_item": (cpu_end - cpu_start) * 1000 / max(1, len(stamps)),
        "worker_idle_cpu_ms_per_s": idle_rate * 1000,
        "own_work_ms_per_item": (cpu_end - cpu_start - idle_rate * seconds)
        * 1000
        / max(1, len(stamps)),
    }


async def item_cost_scale(database_url: str, redis_url: str, *, items: int = 300) -> dict[str, Any]:
    """Our own CPU per item when nothing waits: one `studioflow worker` process running one
    300-item batch at full speed (`instant` provider, PostgreSQL + Redis), its CPU over the
    batch less its idle rate. Beside `limiter_accuracy`, which measures the same at one call a
    second, where the time-based costs of three mostly waiting workers are charged to items."""
    with tempfile.TemporaryDirectory() as tmp:
        settings, platform, name = await _scale_platform(tmp, database_url, redis_url)
        try:
            await _prepare(platform, "instant", 100_000)
            (worker,) = _spawn(settings, count=1)
            app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
            transport = httpx.ASGITransport(app=served(app))
            try:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bench"
                ) as client:
                    headers = await _token(client)
                    workflow = (await client.get("/api/v1/workflows", headers=headers)).json()[
                        "items"
                    ][0]["id"]
                    await asyncio.sleep(5)
                    idle_start = _cpu_seconds(worker.pid)
                    await asyncio.sleep(10)
                    idle_rate = (_cpu_seconds(worker.pid) - idle_start) / 10
                    cpu_start, started = _cpu_seconds(worker.pid), time.monotonic()
                    response = await client.post(
                        f"/api/v1/workflows/{workflow}/execute",
                        json={"prompts": [f"item cost {i}" for i in range(items)]},
                        headers=headers,
                    )
                    assert response.status_code == 202, response.text
                    done = BatchResult.status == "completed"
                    while True:
                        async with platform.db.read() as session:
                            count = await session.scalar(select(func.count()).where(done))
                        if (count or 0) >= items:
                            break
                        await asyncio.sleep(0.25)
                    elapsed = time.monotonic() - started
                    cpu = _cpu_seconds(worker.pid) - cpu_start
            finally:
                _stop([worker])
        finally:
            await platform.close()
            await _drop(database_url, name)
    return {
        "items": items,
        "items_per_s": items / elapsed,
        "worker_cpu_ms_per_item": cpu * 1000 / items,
        "own_work_ms_per_item": (cpu - idle_rate * elapsed) * 1000 / items,
    }


def _cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time so far (/proc/PID/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    return peak_rss_kb(pid) / 1024


async def worker_memory(database_url: str, redis_url: str, *, items: int = 500) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings, platform, name = await _scale_platform(tmp, database_url, redis_url)
        try:
            await _prepare(platform, "placeholder", items)
            (worker,) = _spawn(settings, count=1)
            app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
            transport = httpx.ASGITransport(app=served(app))
            try:
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://bench"
                ) as client:
                    headers = await _token(client)
                    await asyncio.sleep(2)
                    idle = _peak_rss_mb(worker.pid)
                    workflow = (await client.get("/api/v1/workflows", headers=headers)).json()[
                        "items"
                    ][0]["id"]
                    started = time.perf_counter()
                    response = await client.post(
                        f"/api/v1/workflows/{workflow}/execute",
                        json={"prompts": [f"a memory test image number {i}" for i in range(items)]},
                        headers=headers,
                    )
                    assert response.status_code == 202, response.text
                    result = await _drain(platform, 1, timeout=1800)
                    elapsed = time.perf_counter() - started
                    peak = _peak_rss_mb(worker.pid)
            finally:
                _stop([worker])
        finally:
            await platform.close()
            await _drop(database_url, name)
    return {
        "items": items,
        "idle_rss_mb": idle,
        "peak_rss_mb": peak,
        "seconds": elapsed,
        "completed_executions": result["completed"],
    }


async def run() -> dict[str, Any]:
    from studioflow.platform.observability import configure_logging

    configure_logging(json_logs=True, level="warning")
    results: dict[str, Any] = {}
    print("queue overhead, embedded ...", flush=True)
    results["queue_embedded"] = await queue_overhead_embedded()
    print(results["queue_embedded"], flush=True)
    print("worker drain, embedded ...", flush=True)
    results["drain_embedded"] = await queue_drain_embedded()
    print(results["drain_embedded"], flush=True)
    database_url = os.environ.get("STUDIOFLOW_BENCH_DATABASE_URL")
    redis_url = os.environ.get("STUDIOFLOW_BENCH_REDIS_URL")
    if not (database_url and redis_url):
        print("set STUDIOFLOW_BENCH_DATABASE_URL and STUDIOFLOW_BENCH_REDIS_URL for the rest")
        return results
    from studioflow.settings import normalise_database_url

    database_url = normalise_database_url(database_url)
    print("queue overhead, PostgreSQL + Redis, two worker processes ...", flush=True)
    results["queue_scale"] = await queue_overhead_scale(database_url, redis_url)
    print(results["queue_scale"], flush=True)
    print("worker drain, two worker processes ...", flush=True)
    results["drain_scale"] = await queue_drain_scale(database_url, redis_url)
    print(results["drain_scale"], flush=True)
    print("worker memory, 500-item batch ...", flush=True)
    results["memory"] = await worker_memory(database_url, redis_url)
    print(results["memory"], flush=True)
    print("our own work per item, one worker at full speed ...", flush=True)
    results["item_cost"] = await item_cost_scale(database_url, redis_url)
    print(results["item_cost"], flush=True)
    print("limiter accuracy, 60/min, three processes, 2 minutes ...", flush=True)
    results["limiter"] = await limiter_accuracy(database_url, redis_url)
    print(results["limiter"], flush=True)
    return results
