"""`studioflow serve` as a real server process: embedded, and at scale with every role."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from studioflow.app import create_app, served
from studioflow.platform.runtime import Platform
from studioflow.settings import Settings
from tests.conftest import free_port, subprocess_env
from tests.factories import create_account
from tests.media import images


def environment(settings: Settings) -> dict[str, str]:
    env = subprocess_env()
    env.update(
        {
            "STUDIOFLOW_ENV": "test",
            "STUDIOFLOW_DATA_DIR": str(settings.data_dir),
            "STUDIOFLOW_DATABASE_URL": settings.database_url,
            "STUDIOFLOW_STORAGE_URL": settings.storage_url,
            "STUDIOFLOW_SECRET_KEY": settings.secret,
            "STUDIOFLOW_QUEUE_NAME": settings.queue_name,
            # Limits and counters of this test only: a shared prefix let one test's sign-in
            # attempts lock out another's.
            "STUDIOFLOW_REDIS_PREFIX": settings.redis_prefix,
        }
    )
    if settings.redis_url:
        env["STUDIOFLOW_REDIS_URL"] = settings.redis_url
    if settings.s3_endpoint_url:
        env.update(
            {
                "STUDIOFLOW_S3_ENDPOINT_URL": settings.s3_endpoint_url,
                "STUDIOFLOW_S3_ACCESS_KEY_ID": settings.s3_access_key_id or "",
                "STUDIOFLOW_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key or "",
            }
        )
    return env


@contextmanager
def server(settings: Settings, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    port = free_port()
    # The log goes to a file, not a pipe: a busy server would block on a full pipe nobody reads.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "studioflow", "serve", "--port", str(port), *args],
            env={**environment(settings), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def output() -> str:
            log.seek(0)
            return log.read()

        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    pytest.fail(f"server exited early:\n{output()}")
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("server did not answer /health within 60 s")
                time.sleep(0.2)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail("server did not stop on SIGTERM within 20 s")
        # Uvicorn shuts down cleanly, then exits by the signal it was sent (-15) or with 0.
        text = output()
        assert process.returncode in (0, -signal.SIGTERM), text
        assert "Application shutdown complete" in text


def test_serves_the_platform(settings: Settings) -> None:
    with server(settings) as base:
        health = httpx.get(f"{base}/health").json()
        assert health["service"] == "all"
        ready = httpx.get(f"{base}/ready")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        if settings.redis_url:
            assert checks["redis"] == "ok"
        assert "studioflow_http_requests_total" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/docs").status_code == 200
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "Studioflow"
        home = httpx.get(f"{base}/")
        assert home.status_code == 200 and "Studioflow" in home.text
        assert httpx.get(f"{base}/static/css/app.css").status_code == 200


@pytest.mark.parametrize("role", ["api", "upload", "view"])
def test_each_role_serves_its_part(settings: Settings, role: str) -> None:
    if settings.embedded_queue:
        pytest.skip("split roles run at scale (they share Redis and the database)")
    with server(settings, "--role", role) as base:
        assert httpx.get(f"{base}/health").json()["service"] == role
        assert httpx.get(f"{base}/ready").status_code == 200
        home = httpx.get(f"{base}/")
        assert home.status_code == (200 if role == "api" else 404)
        files = httpx.get(f"{base}/files/x?expires=1&signature=x")
        # /files exists only where images are delivered; elsewhere the route is unknown.
        assert files.status_code == 404
        assert (files.json()["detail"] == "This link is invalid or has expired.") == (
            role == "view"
        )


def test_several_processes_at_scale(settings: Settings) -> None:
    if settings.embedded_queue:
        pytest.skip("more than one process needs Redis")
    with server(settings, "--workers", "2", "--role", "api") as base:
        for _ in range(40):
            # A new connection each time, so both processes answer some of them.
            with httpx.Client() as http:
                assert http.get(f"{base}/health").status_code == 200
        assert httpx.get(f"{base}/ready").status_code == 200
        # Whichever process answers /metrics, it counts the requests of both.
        for _ in range(3):
            text = httpx.get(f"{base}/metrics").text
            line = next(
                row
                for row in text.splitlines()
                if row.startswith(
                    'studioflow_http_requests_total{method="GET",route="/health",status="200"}'
                )
            )
            assert float(line.rsplit(" ", 1)[1]) >= 40  # plus the start-up probes


def test_a_server_process_freezes_its_start_up_heap(settings: Settings) -> None:
    """Full collections walked every start-up object and stalled the loop for ~125 ms under
    load; a serving process freezes them once it has started."""
    script = (
        "import asyncio, gc\n"
        "from studioflow.app import create_app\n"
        "from studioflow.settings import Settings\n"
        "app = create_app(Settings(), configure_logs=False)\n"
        "async def main():\n"
        "    assert gc.get_freeze_count() == 0\n"
        "    async with app.router.lifespan_context(app):\n"
        "        print(gc.get_freeze_count())\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=environment(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip().splitlines()[-1]) > 10_000


async def test_a_change_reaches_the_delivery_cache_of_another_process(
    committed: tuple[Settings, Platform],
) -> None:
    """The view role caches what a hit needs; a change made by the api process (here, this
    one) reaches it through Redis before the next request."""
    settings, platform = committed
    if settings.embedded_queue:
        pytest.skip("more than one process needs Redis")
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=served(app))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as api,
    ):
        owner = await create_account(api, platform, "two-processes@example.com")
        uploaded = await api.post(
            "/upload",
            files={"file": ("p.png", images.noise_png((32, 24)), "image/png")},
            headers=owner.headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        image_id = uploaded.json()["image"]["id"]
        with server(settings, "--role", "view") as view:
            async with httpx.AsyncClient(base_url=view) as viewer:
                for _ in range(3):  # now cached in the view process
                    assert (await viewer.get(f"/i/{image_id}?size=thumb")).status_code == 200
                hidden = await api.patch(
                    f"/api/v1/images/{image_id}", json={"is_public": False}, headers=owner.headers
                )
                assert hidden.status_code == 200
                # The message left before the PATCH answered; Redis hands it on within
                # milliseconds. Far less than the cache's 60-s TTL, which would be the only
                # way out without it.
                deadline = time.monotonic() + 2
                status = 200
                while status == 200 and time.monotonic() < deadline:
                    status = (await viewer.get(f"/i/{image_id}?size=thumb")).status_code
                    await asyncio.sleep(0.02)
                assert status == 404
                deleted = await api.delete(f"/api/v1/images/{image_id}", headers=owner.headers)
                assert deleted.status_code == 204
                assert (await viewer.get(f"/i/{image_id}")).status_code == 404
