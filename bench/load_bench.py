"""What a user feels while others work: the embedded server (`studioflow serve`, as `make run`
starts it) in its own process, clients in this one.

- `reads_under_uploads`: p99 latency of `GET /api/v1/images` and of a cached thumbnail, idle
  and then while 4 clients upload 24 MP JPEGs back to back. The ratio loaded/idle is the
  figure (goal <= 3): uploads must not hold the database or the event loop.
- `stall_under_sign_ins`: the server's worst event-loop stall (its own
  `studioflow_event_loop_lag_max_seconds`, from /metrics) idle and while 4 clients sign in
  again and again (goal <= 20 ms): argon2 must not run on the loop.

`STUDIOFLOW_BENCH_SERVER_SRC=/path/to/other/src` serves another checkout's code (same venv),
for before/after figures; that code needs no loop-lag metric for the first bench, and the
second reports the stall as seen from a client's ticker instead when the metric is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageFilter

UPLOADERS = 4
SIGNERS = 4
SAMPLES = 300
PASSWORD = "a load bench passphrase"
SECRET = "bench-secret-" + "y" * 40


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _photo_jpeg(width: int = 6000, height: int = 4000, quality: int = 88) -> bytes:
    """A 24 MP JPEG that compresses like a photo (smooth areas and texture), ~5 MB."""
    small = Image.effect_noise((width // 40, height // 40), 60).convert("RGB")
    image = small.resize((width, height), Image.Resampling.BICUBIC)
    grain = Image.effect_noise((width, height), 12).convert("RGB")
    image = Image.blend(image.filter(ImageFilter.GaussianBlur(2)), grain, 0.15)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _distinct(jpeg: bytes, n: int) -> bytes:
    """The same photo with a comment segment after SOI: other bytes (no dedup), same work."""
    comment = f"bench upload {n}".encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIOFLOW_")}
    env.update(
        {
            "STUDIOFLOW_DATA_DIR": str(data_dir),
            "STUDIOFLOW_SECRET_KEY": SECRET,
            "STUDIOFLOW_LOG_LEVEL": "warning",
            "STUDIOFLOW_RATE_LIMIT_PER_IP": "1000000/minute",
            # Sign-ins are limited per address (30 per 15 minutes): the bench's clients each
            # name another one in X-Forwarded-For, which the server believes from loopback.
            "STUDIOFLOW_TRUSTED_PROXIES": "127.0.0.1",
        }
    )
    other = os.environ.get("STUDIOFLOW_BENCH_SERVER_SRC")
    if other:
        env["PYTHONPATH"] = other
    return env


class Server:
    """The embedded server, or (``scale``: PostgreSQL and Redis URLs) the api, upload and view
    roles as separate processes on them, as "Scaling out" deploys them (one machine here)."""

    def __init__(
        self,
        data_dir: Path,
        scale: tuple[str, str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.scale = scale
        self.extra_env = env or {}
        roles = ("api", "upload", "view") if scale else ("all",)
        self.ports = {role: _free_port() for role in roles}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.database: str | None = None

    def url(self, role: str) -> str:
        port = self.ports.get(role) or self.ports["all"]
        return f"http://127.0.0.1:{port}"

    def _env(self) -> dict[str, str]:
        env = {**_env(self.data_dir), **self.extra_env}
        if self.scale and self.database:
            env["STUDIOFLOW_DATABASE_URL"] = self.database
            env["STUDIOFLOW_REDIS_URL"] = self.scale[1]
            env["STUDIOFLOW_QUEUE_NAME"] = env["STUDIOFLOW_REDIS_PREFIX"] = self.data_dir.name
            # One public address for every role, as behind a proxy: tokens name it.
            env["STUDIOFLOW_BASE_URL"] = self.url("api")
        return env

    def _start(self) -> None:
        env = self._env()
        cli = [sys.executable, "-m", "studioflow"]
        subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*cli, "admin", "create", "--email", "load@example.com", "--password", PASSWORD],
            env=env,
            check=True,
            capture_output=True,
        )
        for role, port in self.ports.items():
            self.processes.append(
                subprocess.Popen(
                    [*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--role", role],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    async def __aenter__(self) -> Server:
        if self.scale:
            self.database = await _create_database(self.scale[0], self.data_dir.name)
        await asyncio.to_thread(self._start)
        async with httpx.AsyncClient() as client:
            for role in self.ports:
                for _ in range(200):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(f"{self.url(role)}/health")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
                else:
                    raise RuntimeError(f"the {role} server did not come up")
        return self

    async def __aexit__(self, *_: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.scale and self.database:
            await _drop_database(self.scale[0], self.data_dir.name)


def _admin_url(database_url: str) -> str:
    from studioflow.settings import normalise_database_url

    return normalise_database_url(database_url).replace("postgresql+asyncpg", "postgresql")


async def _create_database(database_url: str, name: str) -> str:
    import asyncpg

    admin = _admin_url(database_url)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return admin.rpartition("/")[0] + f"/{name}"


async def _drop_database(database_url: str, name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_admin_url(database_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


_addresses = iter(range(1, 10**9))


async def _sign_in(client: httpx.AsyncClient) -> dict[str, str]:
    n = next(_addresses)
    login = await client.post(
        "/api/v1/auth/login",
        json={"identifier": "load@example.com", "password": PASSWORD},
        # A documentation-range address per sign-in (never contacted; a header only).
        headers={"X-Forwarded-For": f"198.51.{n // 250 % 250}.{n % 250 + 1}"},
    )
    login.raise_for_status()
    client.cookies.clear()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def _latencies(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[float]:
    found = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        response = await client.get(path, headers=headers)
        found.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
        await asyncio.sleep(0.005)
    return found


async def reads_under_uploads(scale: tuple[str, str] | None = None) -> dict[str, float]:
    """``scale``: the roles split (uploads to the upload role, the list from the api role,
    the thumbnail from the view role), as deployed at scale, on one machine."""
    with tempfile.TemporaryDirectory(prefix="sfbench") as tmp:
        async with Server(Path(tmp), scale) as server:
            limits = httpx.Limits(max_connections=50)
            api, upload_url = server.url("api"), server.url("upload")
            view = server.url("view")
            async with httpx.AsyncClient(base_url=api, timeout=120, limits=limits) as client:
                headers = await _sign_in(client)
                # The bench uploads far beyond the free plan's day: raise its limits.
                plan = await client.patch(
                    "/api/v1/admin/plans/free",
                    json={
                        "uploads_per_day": 1_000_000,
                        "storage_bytes": 10**12,
                        "api_requests_per_hour": 10**9,
                    },
                    headers=headers,
                )
                plan.raise_for_status()
                small = io.BytesIO()
                Image.new("RGB", (800, 600), (200, 80, 40)).save(small, "PNG")
                first = await client.post(
                    f"{upload_url}/upload",
                    files={"file": ("a.png", small.getvalue())},
                    headers=headers,
                )
                assert first.status_code == 201, first.text
                image = first.json()["image"]["id"]
                thumb = f"{view}/i/{image}?size=thumb"
                (await client.get(thumb)).raise_for_status()  # rendered once, cached
                idle_list = await _latencies(client, "/api/v1/images", headers)
                idle_thumb = await _latencies(client, thumb, {})

                # The uploaders run in a process of their own (bench/load_uploader.py).
                token = headers["Authorization"].removeprefix("Bearer ")
                loader = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.load_uploader",
                    upload_url,
                    token,
                    str(UPLOADERS),
                    stdout=asyncio.subprocess.PIPE,
                )
                assert loader.stdout is not None
                await loader.stdout.readline()  # "ready"
                await asyncio.sleep(2)  # the uploads are under way
                lag_before = await _lag_buckets(client)
                started = time.perf_counter()
                loaded_list = await _latencies(client, "/api/v1/images", headers)
                loaded_thumb = await _latencies(client, thumb, {})
                window = time.perf_counter() - started
                lag_after = await _lag_buckets(client)
                loader.terminate()
                counts = json.loads((await loader.stdout.readline()) or b"{}")
                await loader.wait()
    uploaded = counts.pop("201", 0)
    result = {
        "idle_list_p99_ms": _p(idle_list, 0.99) * 1000,
        "loaded_list_p99_ms": _p(loaded_list, 0.99) * 1000,
        "idle_thumb_p99_ms": _p(idle_thumb, 0.99) * 1000,
        "loaded_thumb_p99_ms": _p(loaded_thumb, 0.99) * 1000,
        "idle_list_p50_ms": statistics.median(idle_list) * 1000,
        "loaded_list_p50_ms": statistics.median(loaded_list) * 1000,
        "uploads": uploaded,
        "uploads_per_s": uploaded / window if window else 0.0,
        "upload_failures": sum(counts.values()),
        **{f"failed_{status}": float(n) for status, n in counts.items()},
    }
    if lag_before is not None and lag_after is not None:
        result["loop_stall_at_most_ms"] = _worst_between(lag_before, lag_after) * 1000
    result["list_ratio"] = result["loaded_list_p99_ms"] / result["idle_list_p99_ms"]
    result["thumb_ratio"] = result["loaded_thumb_p99_ms"] / result["idle_thumb_p99_ms"]
    return result


async def _upload_rate(upload_url: str, token: str, clients: int, seconds: float) -> float:
    """24 MP uploads a second that answered 201, from ``clients`` at once in a process of
    their own."""
    loader = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.load_uploader",
        upload_url,
        token,
        str(clients),
        stdout=asyncio.subprocess.PIPE,
    )
    assert loader.stdout is not None
    await loader.stdout.readline()  # "ready"
    await asyncio.sleep(seconds)
    loader.terminate()
    counts = json.loads((await loader.stdout.readline()) or b"{}")
    await loader.wait()
    return float(counts.get("201", 0)) / seconds


async def upload_scaling(seconds: float = 20.0) -> dict[str, float]:
    """Issue 13: uploads from 4 clients against one client, embedded, in turns."""
    with tempfile.TemporaryDirectory(prefix="sfbench") as tmp:
        async with Server(Path(tmp)) as server:
            base = server.url("all")
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:
                headers = await _sign_in(client)
                plan = await client.patch(
                    "/api/v1/admin/plans/free",
                    json={"uploads_per_day": 1_000_000, "storage_bytes": 10**12},
                    headers=headers,
                )
                plan.raise_for_status()
            token = headers["Authorization"].removeprefix("Bearer ")
            one, four = [], []
            for _ in range(2):
                one.append(await _upload_rate(base, token, 1, seconds))
                four.append(await _upload_rate(base, token, 4, seconds))
    return {
        "one_client_per_s": statistics.median(one),
        "four_clients_per_s": statistics.median(four),
        "ratio": statistics.median(four) / statistics.median(one),
    }


async def _lag_buckets(client: httpx.AsyncClient) -> dict[float, float] | None:
    """The server's loop-lag histogram: cumulative counts by upper bound (None: no metric)."""
    text = (await client.get(f"{client.base_url}/metrics")).text
    found = {
        float(bound): float(count)
        for bound, count in re.findall(
            r'^studioflow_event_loop_lag_seconds_bucket\{le="([0-9.e+-]+)"\} ([0-9.e+-]+)$',
            text,
            re.M,
        )
    }
    return found or None


def _worst_between(before: dict[float, float], after: dict[float, float]) -> float:
    """The smallest bucket bound that holds every stall observed between two scrapes."""
    total = max(after.values()) - max(before.values())
    for bound in sorted(after):
        if after[bound] - before.get(bound, 0.0) >= total:
            return bound
    return float("inf")


async def _client_ticks(client: httpx.AsyncClient, seconds: float) -> float:
    """The worst time a cheap request (/health) took: a stall of the server's loop delays it."""
    worst = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        await client.get("/health")
        worst = max(worst, time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return worst


async def stall_under_sign_ins(seconds: float = 8.0) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            Server(Path(tmp)) as server,
            httpx.AsyncClient(base_url=server.url("all"), timeout=60) as client,
        ):
            await _sign_in(client)  # warm
            await asyncio.sleep(1)
            start = await _lag_buckets(client)
            idle_health = await _client_ticks(client, 3)
            idle = await _lag_buckets(client)
            stop = asyncio.Event()
            sign_ins = 0

            async def signer() -> None:
                nonlocal sign_ins
                async with httpx.AsyncClient(base_url=server.url("all"), timeout=60) as own:
                    while not stop.is_set():
                        await _sign_in(own)
                        sign_ins += 1

            tasks = [asyncio.create_task(signer()) for _ in range(SIGNERS)]
            loaded_health = await _client_ticks(client, seconds)
            stop.set()
            await asyncio.gather(*tasks)
            loaded = await _lag_buckets(client)
    result: dict[str, Any] = {
        "sign_ins_per_s": sign_ins / seconds,
        "idle_health_worst_ms": idle_health * 1000,
        "loaded_health_worst_ms": loaded_health * 1000,
    }
    if start is not None and idle is not None and loaded is not None:
        # Bucket bounds: the worst stall was at most this long.
        result["idle_loop_stall_at_most_ms"] = _worst_between(start, idle) * 1000
        result["loaded_loop_stall_at_most_ms"] = _worst_between(idle, loaded) * 1000
    return result


async def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, bench in (
        ("reads_under_uploads", reads_under_uploads),
        ("stall_under_sign_ins", stall_under_sign_ins),
        ("upload_scaling", upload_scaling),
    ):
        results[name] = await bench()
        print(name, {k: round(v, 3) for k, v in results[name].items()})
    database_url = os.environ.get("STUDIOFLOW_BENCH_DATABASE_URL")
    redis_url = os.environ.get("STUDIOFLOW_BENCH_REDIS_URL")
    if database_url and redis_url:
        name = "reads_under_uploads_split_roles"
        results[name] = await reads_under_uploads((database_url, redis_url))
        print(name, {k: round(v, 3) for k, v in results[name].items()})
    return results
