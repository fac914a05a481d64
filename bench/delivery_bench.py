"""Delivery over real HTTP, against anchors measured in the same run (issue 13).

The load comes from another process (wrk, Debian's `wrk` package) over loopback, never from
the server's own event loop. Each target is measured in turns (anchor, Studioflow, anchor,
…) so that the shared machine's changing speed falls on both alike:

- a bare ASGI app (uvicorn, one process) answering the same bytes from memory: what Python
  itself can do here;
- nginx (Debian's) sending the same bytes as a static file;
- Studioflow's embedded server (`studioflow serve`, SQLite, local storage) delivering a
  cached thumbnail of a photo-like 12 MP JPEG, and its `/health`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from bench.load_bench import Server, _free_port, _photo_jpeg, _sign_in

WRK_SECONDS = 6
CONNECTIONS = 32
ROUNDS = 3

BARE_APP = """
import sys
from pathlib import Path

BODY = Path(sys.argv[1]).read_bytes()
HEADERS = [(b"content-type", b"image/jpeg"), (b"content-length", str(len(BODY)).encode())]
HEALTH = b'{"status":"ok"}'


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": HEALTH})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
"""

NGINX_CONF = """
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp; uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        location / {{ root {root}/static; }}
    }}
}}
"""

_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    url: str, *, seconds: int = WRK_SECONDS, connections: int = CONNECTIONS
) -> dict[str, float]:
    """Requests a second and p99 (ms) of one wrk run."""
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    )
    rate = _RATE.search(done.stdout)
    p99 = _P99.search(done.stdout)
    if rate is None or p99 is None or "Non-2xx" in done.stdout:
        raise RuntimeError(f"wrk against {url}:\n{done.stdout}")
    return {"rps": float(rate.group(1)), "p99_ms": float(p99.group(1)) * _UNITS[p99.group(2)]}


@contextlib.contextmanager
def nginx(root: Path) -> Any:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = _free_port()
    (root / "tmp").mkdir(exist_ok=True)
    root.chmod(0o755)  # nginx's workers run as another user
    conf = root / "nginx.conf"
    conf.write_text(textwrap.dedent(NGINX_CONF.format(root=root, port=port)))
    process = subprocess.Popen(
        [binary, "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/thumb.jpg")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait(url: str) -> None:
    for _ in range(100):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def _sign_in_unmetered(client: httpx.AsyncClient) -> dict[str, str]:
    """Signed in as the bench's admin, its plan's monthly bandwidth out of the way (the
    benches send gigabytes)."""
    headers = await _sign_in(client)
    plan = await client.patch(
        "/api/v1/admin/plans/free", json={"bandwidth_bytes_month": 10**15}, headers=headers
    )
    plan.raise_for_status()
    return headers


async def cached_thumbnail() -> dict[str, Any]:
    """A cached 320-px thumbnail and /health: Studioflow against the bare app and nginx."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with Server(root / "data") as server:
            base = server.url("all")
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                headers = await _sign_in_unmetered(client)
                photo = await asyncio.to_thread(_photo_jpeg, 4000, 3000)
                uploaded = await client.post(
                    "/upload",
                    files={"file": ("photo.jpg", photo, "image/jpeg")},
                    headers=headers,
                )
                uploaded.raise_for_status()
                image_id = uploaded.json()["image"]["id"]
                thumb = await client.get(f"/i/{image_id}?size=thumb&v=1")
                thumb.raise_for_status()
            (root / "static").mkdir()
            (root / "static" / "thumb.jpg").write_bytes(thumb.content)
            body = root / "body.jpg"
            body.write_bytes(thumb.content)
            ours = f"{base}/i/{image_id}?size=thumb&v=1"
            rows: dict[str, list[dict[str, float]]] = {
                k: [] for k in ("bare", "nginx", "studioflow", "bare_health", "health")
            }
            with bare_app_serving(body) as bare, nginx(root) as static:
                for _ in range(ROUNDS):
                    rows["bare"].append(await asyncio.to_thread(wrk, f"{bare}/thumb.jpg"))
                    rows["studioflow"].append(await asyncio.to_thread(wrk, ours))
                    rows["nginx"].append(await asyncio.to_thread(wrk, f"{static}/thumb.jpg"))
                    rows["bare_health"].append(await asyncio.to_thread(wrk, f"{bare}/health"))
                    rows["health"].append(await asyncio.to_thread(wrk, f"{base}/health"))

    def median(name: str, field: str) -> float:
        return statistics.median(r[field] for r in rows[name])

    return {
        "thumbnail_bytes": len(thumb.content),
        "bare_rps": median("bare", "rps"),
        "nginx_rps": median("nginx", "rps"),
        "studioflow_rps": median("studioflow", "rps"),
        "studioflow_p99_ms": median("studioflow", "p99_ms"),
        # The anchor's own tail: wrk and the server share two cores, so the OS's scheduling
        # is in every p99 here.
        "bare_p99_ms": median("bare", "p99_ms"),
        "ratio_to_bare": median("studioflow", "rps") / median("bare", "rps"),
        "ratio_to_nginx": median("studioflow", "rps") / median("nginx", "rps"),
        "bare_health_rps": median("bare_health", "rps"),
        "health_rps": median("health", "rps"),
        "health_ratio_to_bare": median("health", "rps") / median("bare_health", "rps"),
    }


@contextlib.contextmanager
def bare_app_serving(body: Path) -> Any:
    """The bare app with ``body`` as its answer (the path goes in through argv)."""
    port = _free_port()
    script = body.parent / "bare_app.py"
    script.write_text(BARE_APP)
    runner = (
        "import sys, uvicorn\n"
        f"sys.argv = ['bare', {str(body)!r}]\n"
        "import bare_app\n"
        f"uvicorn.run(bare_app.app, host='127.0.0.1', port={port}, access_log=False,"
        " log_level='warning')\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", runner],
        cwd=body.parent,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(body.parent)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


FIRST_VIEWS = """
import asyncio, json, sys, time
import httpx

async def main(urls):
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=64)) as client:
        async def one(url):
            started = time.perf_counter()
            response = await client.get(url)
            return response.status_code, time.perf_counter() - started
        return await asyncio.gather(*(one(u) for u in urls))

results = asyncio.run(main(sys.argv[1:]))
print(json.dumps(results))
"""


async def first_views(count: int = 32) -> dict[str, Any]:
    """``count`` first views of ``count`` new images at once (a `large` each, 12 MP photos),
    from another process: every one answered, and how long the last took."""
    from bench.load_bench import _distinct

    with tempfile.TemporaryDirectory() as tmp:
        async with Server(Path(tmp) / "data") as server:
            base = server.url("all")
            photo = await asyncio.to_thread(_photo_jpeg, 4000, 3000, 90)
            async with httpx.AsyncClient(base_url=base, timeout=120) as client:
                headers = await _sign_in_unmetered(client)
                ids = []
                for n in range(count):
                    uploaded = await client.post(
                        "/upload",
                        files={"file": (f"p{n}.jpg", _distinct(photo, n), "image/jpeg")},
                        headers=headers,
                    )
                    uploaded.raise_for_status()
                    ids.append(uploaded.json()["image"]["id"])
            urls = [f"{base}/i/{image_id}?size=large" for image_id in ids]
            started = time.perf_counter()
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-c", FIRST_VIEWS, *urls],
                capture_output=True,
                text=True,
                check=True,
            )
            elapsed = time.perf_counter() - started
    import json

    answers = json.loads(done.stdout)
    statuses: dict[str, int] = {}
    for status, _ in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    latencies = sorted(seconds for _, seconds in answers)
    return {
        "statuses": statuses,
        "p50_s": round(latencies[len(latencies) // 2], 2),
        "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2),
        "all_done_s": round(elapsed, 2),
    }


DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _shipped_nginx(root: Path, listen: int, app_port: int, storage: Path) -> Path:
    """deploy/nginx.conf with every role at ``app_port``, the port, the /_stored/ alias and a
    pid file changed; access logging off, as in the static anchor."""
    text = (DEPLOY / "nginx.conf").read_text()
    for role in ("api", "upload", "view"):
        text = text.replace(f"default {role}:8000;", f"default 127.0.0.1:{app_port};")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    text = text.replace("alias /var/lib/studioflow/storage/;", f"alias {storage}/;")
    text = text.replace("resolver 127.0.0.11 valid=10s ipv6=off;", "access_log off;")
    text = f"pid {root}/shipped.pid;\nerror_log {root}/shipped-error.log warn;\n" + text
    if os.geteuid() == 0:
        text = "user root;\n" + text  # the bench's folders are root's own
    conf = root / "shipped.conf"
    conf.write_text(text)
    (root / "logs").mkdir(exist_ok=True)
    return conf


@contextlib.contextmanager
def shipped_nginx(root: Path, app_port: int, storage: Path) -> Any:
    listen = _free_port()
    conf = _shipped_nginx(root, listen, app_port, storage)
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen(
        [binary, "-p", str(root), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"http://127.0.0.1:{listen}/health")
        yield f"http://127.0.0.1:{listen}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def through_nginx(*, accel: bool = True) -> dict[str, Any]:
    """Behind the shipped nginx with X-Accel-Redirect: a ~3 MB original and a cached
    thumbnail, against nginx sending the same files itself."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        # Without accel (the baseline row): the view role streams the bytes through nginx.
        env = {"STUDIOFLOW_DELIVERY_ACCEL_PREFIX": "/_stored/"} if accel else {}
        async with Server(data, env=env) as server:
            app = server.url("all")
            async with httpx.AsyncClient(base_url=app, timeout=60) as client:
                headers = await _sign_in_unmetered(client)
                photo = await asyncio.to_thread(_photo_jpeg, 6000, 4000, 90)  # ~3 MB
                uploaded = await client.post(
                    "/upload", files={"file": ("o.jpg", photo, "image/jpeg")}, headers=headers
                )
                uploaded.raise_for_status()
                image_id = uploaded.json()["image"]["id"]
                direct = await client.get(f"/i/{image_id}?v=1")
                thumb = await client.get(f"/i/{image_id}?size=thumb&v=1")
                thumb.raise_for_status()
            record = (await httpx.AsyncClient(base_url=app).get(f"/info/{image_id}")).json()
            stored = next(
                p
                for p in (data / "storage").rglob("*")
                if p.is_file() and p.stat().st_size == record["size"]
            )
            if accel:
                assert direct.headers["x-accel-redirect"].endswith(stored.name)
            (root / "static").mkdir()
            shutil.copyfile(stored, root / "static" / "original.jpg")
            (root / "static" / "thumb.jpg").write_bytes(thumb.content)
            size = stored.stat().st_size
            app_port = int(app.rsplit(":", 1)[1])
            with shipped_nginx(root, app_port, data / "storage") as proxied, nginx(root) as static:
                rows: dict[str, list[dict[str, float]]] = {
                    k: [] for k in ("static_original", "original", "static_thumb", "thumb")
                }
                for _ in range(ROUNDS):
                    for name, url in (
                        ("static_original", f"{static}/original.jpg"),
                        ("original", f"{proxied}/i/{image_id}?v=1"),
                        ("static_thumb", f"{static}/thumb.jpg"),
                        ("thumb", f"{proxied}/i/{image_id}?size=thumb&v=1"),
                    ):
                        rows[name].append(await asyncio.to_thread(wrk, url))

    def median(name: str) -> float:
        return statistics.median(r["rps"] for r in rows[name])

    return {
        "original_bytes": size,
        "original_rps": median("original"),
        "static_original_rps": median("static_original"),
        "original_ratio": median("original") / median("static_original"),
        "thumb_rps": median("thumb"),
        "static_thumb_rps": median("static_thumb"),
        "thumb_ratio": median("thumb") / median("static_thumb"),
    }


async def run() -> dict[str, Any]:
    results: dict[str, Any] = {"first_views": await first_views()}
    if shutil.which("wrk") is None:
        results["cached_thumbnail"] = {"skipped": "wrk is not installed (apt-get install wrk)"}
    else:
        results["cached_thumbnail"] = await cached_thumbnail()
        results["through_nginx"] = await through_nginx()
        results["through_nginx_streamed"] = await through_nginx(accel=False)
    return results
