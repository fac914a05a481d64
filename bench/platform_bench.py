"""Platform overheads, each as a ratio to a baseline measured in the same run.

1. HTTP: GET /health through the whole app (request id, metrics, security headers, body
   limit, error handling) against the same handler on a bare Starlette app.
2. Queue: no-op jobs through SAQ's Worker on MemoryQueue (and on Redis when
   STUDIOFLOW_BENCH_REDIS_URL is set) against awaiting the task function directly.
3. Storage: writing and reading 1 MiB objects through the local store (atomic staging
   and rename) against plain file writes and reads.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from studioflow.app import create_app, served
from studioflow.platform.jobs import JobQueue, TaskRegistry, build_worker
from studioflow.platform.runtime import build_platform
from studioflow.platform.storage import create_storage
from studioflow.settings import Settings

REQUESTS = 2000
JOBS = 2000
OBJECTS = 100


async def _rps(app: Any, n: int) -> float:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(50):
            await client.get("/health")
        started = time.perf_counter()
        for _ in range(n):
            await client.get("/health")
        return n / (time.perf_counter() - started)


async def http_overhead(settings: Settings) -> dict[str, float]:
    async def health(_: Any) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "all", "time": "now"})

    bare = Starlette(routes=[Route("/health", health)])
    full = create_app(settings, run_worker=False, configure_logs=False)
    bare_rps = statistics.median([await _rps(bare, REQUESTS) for _ in range(3)])
    full_rps = statistics.median([await _rps(served(full), REQUESTS) for _ in range(3)])
    await full.state.platform.close()
    return {"bare_rps": bare_rps, "studioflow_rps": full_rps, "ratio": full_rps / bare_rps}


async def queue_throughput(settings: Settings) -> dict[str, float]:
    tasks = TaskRegistry()
    done = asyncio.Event()
    count = {"n": 0}

    @tasks.task("bench.noop", timeout=10, retries=1, ttl=60)
    async def noop(platform: Any, *, i: int) -> None:
        count["n"] += 1
        if count["n"] >= JOBS:
            done.set()

    # Baseline: the least a job system can do in-process, an asyncio.Queue feeding the same
    # number of consumers that await the same task function.
    bare: asyncio.Queue[int] = asyncio.Queue()

    async def consume() -> None:
        while True:
            i = await bare.get()
            await tasks.spec("bench.noop").function(None, i=i)
            bare.task_done()

    consumers = [asyncio.create_task(consume()) for _ in range(10)]
    started = time.perf_counter()
    for i in range(JOBS):
        bare.put_nowait(i)
    await asyncio.wait_for(done.wait(), 300)
    direct = JOBS / (time.perf_counter() - started)
    for consumer in consumers:
        consumer.cancel()

    platform = build_platform(settings)
    worker = build_worker(platform, concurrency=10, embedded=True, tasks=tasks)
    runner = asyncio.create_task(worker.start())
    queue = JobQueue(platform.queue.saq, tasks)
    count["n"] = 0
    done.clear()
    started = time.perf_counter()
    for i in range(JOBS):
        await queue.enqueue("bench.noop", i=i)
    await asyncio.wait_for(done.wait(), 300)
    queued = JOBS / (time.perf_counter() - started)
    await worker.stop()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await platform.close()
    return {"asyncio_queue_per_s": direct, "saq_jobs_per_s": queued, "ratio": queued / direct}


async def storage_throughput(root: Path) -> dict[str, float]:
    payload = os.urandom(1024 * 1024)
    plain = root / "plain"
    plain.mkdir()
    started = time.perf_counter()
    for i in range(OBJECTS):
        (plain / f"{i}.bin").write_bytes(payload)
        (plain / f"{i}.bin").read_bytes()
    baseline = OBJECTS / (time.perf_counter() - started)

    storage = create_storage((root / "store").as_uri(), secret="x" * 40, base_url="http://b")
    started = time.perf_counter()
    for i in range(OBJECTS):
        await storage.put(f"bench/{i}.bin", payload)
        await storage.read(f"bench/{i}.bin")
    ours = OBJECTS / (time.perf_counter() - started)
    return {
        "plain_objects_per_s": baseline,
        "storage_objects_per_s": ours,
        "ratio": ours / baseline,
    }


async def run() -> dict[str, object]:
    from studioflow.platform.observability import configure_logging

    configure_logging(json_logs=True, level="warning")
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(data_dir=root / "data", secret_key="b" * 8 + uuid.uuid4().hex)
        results["http"] = await http_overhead(settings)
        print(f"http      {results['http']}")
        results["queue_embedded"] = await queue_throughput(
            settings.model_copy(update={"queue_name": f"bench-{uuid.uuid4().hex[:6]}"})
        )
        print(f"queue     {results['queue_embedded']}")
        redis_url = os.environ.get("STUDIOFLOW_BENCH_REDIS_URL")
        if redis_url:
            redis_settings = settings.model_copy(
                update={"redis_url": redis_url, "queue_name": f"bench-{uuid.uuid4().hex[:6]}"}
            )
            results["queue_redis"] = await queue_throughput(redis_settings)
            print(f"queue/redis {results['queue_redis']}")
        results["storage"] = await storage_throughput(root)
        print(f"storage   {results['storage']}")
    return results
