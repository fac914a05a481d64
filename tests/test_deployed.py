"""What ``deploy/`` describes, deployed on this machine and used through nginx (issue 12).

Debian's nginx runs ``deploy/nginx.conf`` as shipped, with only the three role addresses and
the listening port changed; behind it the api, upload and view roles and a worker, each its
own ``studioflow`` process in production mode, on PostgreSQL, Redis and a moto S3 server.
Clients talk to nginx only, from addresses of their own on loopback (127.0.0.x), so per-IP
limits see them apart as they would see users behind the proxy.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from studioflow.settings import MIN_PASSWORD_MEMORY_KIB, MIN_PASSWORD_TIME_COST
from tests.conftest import (
    TEST_DATABASE_URL,
    TEST_REDIS_URL,
    S3Server,
    free_port,
    new_bucket,
    subprocess_env,
)
from tests.fakes.image_apis import GEMINI_KEY, FakeImageAPIs
from tests.fakes.oauth_server import ServerThread
from tests.media.images import encode

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
ADMIN_PASSWORD = "an operator passphrase 4711"
USER_PASSWORD = "a deployed user passphrase 8"
PER_IP_LIMIT = 40

pytestmark = [
    pytest.mark.skipif(
        not (TEST_DATABASE_URL and TEST_REDIS_URL),
        reason="the deployment runs on PostgreSQL and Redis (STUDIOFLOW_TEST_*_URL)",
    ),
    pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed"),
    # One deployment for the module: its tests run on one xdist worker (`--dist loadgroup`).
    pytest.mark.xdist_group("deployed"),
]


def shipped_config(listen: int, roles: dict[str, int]) -> str:
    """deploy/nginx.conf with only the role addresses and the port replaced."""
    text = (DEPLOY / "nginx.conf").read_text()
    for role, port in roles.items():
        text, found = re.subn(
            rf"(map \$host \${role}_role\s+\{{ default ){role}:8000;",
            rf"\g<1>127.0.0.1:{port};",
            text,
        )
        assert found == 1, f"the {role} address is not where the test expects it"
    text, found = re.subn(r"listen 80;", f"listen 127.0.0.1:{listen};", text)
    assert found == 1
    return text


@dataclass
class Deployment:
    base: str
    env: dict[str, str]
    data_dir: Path
    roles: dict[str, str]
    fake: FakeImageAPIs
    worker_metrics: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def client(self, address: str, **kwargs: Any) -> httpx.Client:
        """A user at ``address`` (127.0.0.x) who reaches only nginx."""
        transport = httpx.HTTPTransport(local_address=address)
        return httpx.Client(base_url=self.base, transport=transport, timeout=60, **kwargs)

    def start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = (self.data_dir.parent / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "studioflow", *argv], env=self.env, stdout=log, stderr=log
        )
        self.processes[name] = process
        return process

    def start_worker(self) -> subprocess.Popen[bytes]:
        process = self.start(
            "worker", "worker", "--concurrency", "4", "--metrics-port", str(self.worker_metrics)
        )
        wait_until(lambda: answers(f"http://127.0.0.1:{self.worker_metrics}/"), "the worker")
        return process

    def log_of(self, name: str) -> str:
        return (self.data_dir.parent / f"{name}.log").read_text(errors="replace")

    def mail_to(self, address: str, subject: str) -> str:
        """The body of the newest mail to ``address`` (the worker writes the outbox)."""
        outbox = self.data_dir / "outbox"

        def found() -> str | None:
            import email

            for path in sorted(outbox.glob("*.eml"), reverse=True):
                message = email.message_from_bytes(path.read_bytes())
                if message["To"] == address and subject in (message["Subject"] or ""):
                    return str(message.get_payload(decode=True), "utf-8")
            return None

        return wait_until(found, f"mail to {address}")


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not ready within {timeout} s")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("a process did not stop on SIGTERM")


def create_database() -> tuple[str, str]:
    import asyncpg

    from studioflow.settings import normalise_database_url

    assert TEST_DATABASE_URL is not None
    admin = normalise_database_url(TEST_DATABASE_URL).replace("postgresql+asyncpg", "postgresql")
    name = f"sf_deploy_{uuid.uuid4().hex[:8]}"

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    return admin.rpartition("/")[0] + f"/{name}", name


def drop_database(name: str) -> None:
    import asyncpg

    from studioflow.settings import normalise_database_url

    assert TEST_DATABASE_URL is not None
    admin = normalise_database_url(TEST_DATABASE_URL).replace("postgresql+asyncpg", "postgresql")

    async def run() -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def deployment(
    s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deployed")
    database_url, database = create_database()
    fake = FakeImageAPIs()
    fake_port, nginx_port = free_port(), free_port()
    ports = {role: free_port() for role in ("api", "upload", "view")}
    env = subprocess_env(
        STUDIOFLOW_ENV="production",
        STUDIOFLOW_SECRET_KEY=secrets.token_hex(32),
        STUDIOFLOW_PASSWORD_HASH_MEMORY_KIB=str(MIN_PASSWORD_MEMORY_KIB),
        STUDIOFLOW_PASSWORD_HASH_TIME_COST=str(MIN_PASSWORD_TIME_COST),
        STUDIOFLOW_DATA_DIR=str(root / "data"),
        STUDIOFLOW_DATABASE_URL=database_url,
        STUDIOFLOW_REDIS_URL=TEST_REDIS_URL or "",
        STUDIOFLOW_QUEUE_NAME=f"sf-deploy-{uuid.uuid4().hex[:8]}",
        STUDIOFLOW_REDIS_PREFIX=f"sf-deploy-{uuid.uuid4().hex[:8]}",
        STUDIOFLOW_STORAGE_URL=f"s3://{new_bucket(s3_server)}",
        STUDIOFLOW_S3_ENDPOINT_URL=s3_server.endpoint,
        STUDIOFLOW_S3_ACCESS_KEY_ID=s3_server.access_key,
        STUDIOFLOW_S3_SECRET_ACCESS_KEY=s3_server.secret_key,
        STUDIOFLOW_BASE_URL=f"http://127.0.0.1:{nginx_port}",
        STUDIOFLOW_HOST="127.0.0.1",
        # nginx reaches the roles from 127.0.0.1; the users come from other loopback addresses.
        STUDIOFLOW_TRUSTED_PROXIES="127.0.0.1/32",
        STUDIOFLOW_RATE_LIMIT_PER_IP=f"{PER_IP_LIMIT}/minute",
        STUDIOFLOW_GEMINI_API_KEY=GEMINI_KEY,
        STUDIOFLOW_GEMINI_BASE_URL=f"http://127.0.0.1:{fake_port}",
        STUDIOFLOW_STUDIO_PROVIDER_RATE_PER_MINUTE="6000",
        STUDIOFLOW_STUDIO_PROMPT_CONCURRENCY="2",
        # A worker that stopped without handing back would hold its batch for 10 minutes.
        STUDIOFLOW_STUDIO_LEASE_SECONDS="600",
        STUDIOFLOW_WORKER_SHUTDOWN_GRACE_SECONDS="1",
    )
    deployed = Deployment(
        base=f"http://127.0.0.1:{nginx_port}",
        env=env,
        data_dir=root / "data",
        roles={role: f"http://127.0.0.1:{port}" for role, port in ports.items()},
        fake=fake,
        worker_metrics=free_port(),
    )
    (root / "nginx.conf").write_text(shipped_config(nginx_port, ports))
    nginx = [NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "nginx.log")]
    nginx_globals = f"pid {root / 'nginx.pid'}; daemon off;"
    with ServerThread(fake.app(), fake_port):
        try:
            for argv in (
                ["migrate"],
                ["admin", "create", "--email", "ops@example.com", "--password", ADMIN_PASSWORD],
            ):
                done = subprocess.run(
                    [sys.executable, "-m", "studioflow", *argv],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0, done.stdout + done.stderr
            for role, port in ports.items():
                deployed.start(role, "serve", "--role", role, "--port", str(port))
            deployed.start_worker()
            checked = subprocess.run([*nginx, "-t", "-g", nginx_globals], capture_output=True)
            assert checked.returncode == 0, checked.stderr.decode()
            deployed.processes["nginx"] = subprocess.Popen([*nginx, "-g", nginx_globals])
            for role, base in deployed.roles.items():
                wait_until(lambda base=base: answers(f"{base}/health"), f"the {role} role")
            wait_until(lambda: answers(f"{deployed.base}/health"), "nginx")
            yield deployed
        finally:
            for name, process in deployed.processes.items():
                if process.poll() is None:
                    process.send_signal(signal.SIGQUIT if name == "nginx" else signal.SIGTERM)
            for process in deployed.processes.values():
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            drop_database(database)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] == code
    return body


def sign_in(http: httpx.Client, identifier: str, password: str) -> dict[str, str]:
    response = http.post(
        "/api/v1/auth/login", json={"identifier": identifier, "password": password}
    )
    assert response.status_code == 200, response.text
    http.cookies.clear()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def role_counted(deployed: Deployment, role: str, method: str, route: str) -> float:
    """How many requests ``role`` itself answered on ``route`` (its own /metrics)."""
    text = httpx.get(f"{deployed.roles[role]}/metrics").text
    total = 0.0
    pattern = re.compile(
        r"^studioflow_http_requests_total\{(?P<labels>.*)\} (?P<value>[0-9.e+]+)$", re.M
    )
    for match in pattern.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if labels.get("method") == method and labels.get("route") == route:
            total += float(match["value"])
    return total


def sse_until_finished(http: httpx.Client, execution_id: str, headers: dict[str, str]) -> list[str]:
    """The event names of an execution's stream, read through nginx until it ends."""
    names: list[str] = []
    with http.stream(
        "GET", f"/api/v1/executions/{execution_id}/events", headers=headers, timeout=120
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event:"):
                names.append(line.split(":", 1)[1].strip())
                if names[-1] in {"completed", "failed", "cancelled"}:
                    break
    return names


def test_the_shipped_nginx_config_runs_on_this_nginx(deployment: Deployment) -> None:
    version = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr
    assert "nginx/" in version
    answer = httpx.get(f"{deployment.base}/health")
    assert answer.status_code == 200 and answer.json()["service"] == "api"
    # The worker's own metrics port shows the depth of each of its queues.
    queue = deployment.env["STUDIOFLOW_QUEUE_NAME"]
    scraped = httpx.get(f"http://127.0.0.1:{deployment.worker_metrics}/").text
    for name in (queue, f"{queue}-studio"):
        assert f'studioflow_queue_jobs{{queue="{name}",state="queued"}}' in scraped


@pytest.fixture(scope="module")
def dee(deployment: Deployment) -> str:
    """A user who signed up through nginx (the code came by mail, sent by the worker)."""
    with deployment.client("127.0.0.4") as http:
        registered = http.post(
            "/api/v1/auth/register", json={"email": "dee@example.com", "password": USER_PASSWORD}
        )
        assert registered.status_code == 202, registered.text
        code = re.search(r"\b(\d{6})\b", deployment.mail_to("dee@example.com", "code"))
        assert code is not None
        verified = http.post(
            "/api/v1/auth/verify-email", json={"email": "dee@example.com", "code": code[1]}
        )
        assert verified.status_code == 200, verified.text
    return "dee@example.com"


def test_a_user_signs_up_uploads_and_views_through_nginx(deployment: Deployment, dee: str) -> None:
    with deployment.client("127.0.0.4") as http:
        headers = sign_in(http, dee, USER_PASSWORD)

        before = role_counted(deployment, "upload", "POST", "/api/v1/images")
        uploaded = http.post(
            "/api/v1/images",
            files={"file": ("beach.jpg", encode("JPEG", size=(320, 240)), "image/jpeg")},
            headers=headers,
        )
        assert uploaded.status_code == 201, uploaded.text
        assert role_counted(deployment, "upload", "POST", "/api/v1/images") == before + 1
        (image,) = uploaded.json()

        quota = http.get("/upload/quota", headers=headers)
        assert quota.status_code == 200, quota.text
        assert role_counted(deployment, "upload", "GET", "/upload/quota") >= 1

        listed = http.get("/api/v1/images", headers=headers)
        assert listed.status_code == 200 and listed.json()["items"][0]["id"] == image["id"]

        shared = http.patch(
            f"/api/v1/images/{image['id']}", json={"is_public": True}, headers=headers
        )
        assert shared.status_code == 200, shared.text
        for link in (shared.json()["url"], shared.json()["thumbnail_url"]):
            delivered = http.get(link.removeprefix(deployment.base))
            assert delivered.status_code == 200, delivered.text
            assert delivered.headers["content-type"].startswith("image/")
        assert role_counted(deployment, "view", "GET", "/i/{image_id}") >= 1

        # The whole API is documented whichever role nginx sends /openapi.json to.
        paths = http.get("/openapi.json").json()["paths"]
        assert {"/upload/quota", "/i/{image_id}", "/api/v1/auth/login"} <= set(paths)


def test_errors_nginx_answers_itself_are_problem_json(deployment: Deployment) -> None:
    with deployment.client("127.0.0.5") as http:
        too_big = http.post(
            "/api/v1/auth/login",
            content=b"x" * (2 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
        problem(too_big, 413, "payload_too_large")
        assert too_big.headers.get("x-request-id")
        problem(http.get("/metrics"), 404, "not_found")
        # An upload over nginx's 50 MB is refused by nginx before any role sees it.
        huge = http.post(
            "/upload",
            content=b"x" * (51 * 1024 * 1024),
            headers={"Content-Type": "application/octet-stream"},
        )
        problem(huge, 413, "payload_too_large")


def test_per_ip_limits_tell_users_behind_nginx_apart(deployment: Deployment) -> None:
    with deployment.client("127.0.0.2") as greedy, deployment.client("127.0.0.3") as other:
        answers_seen = [greedy.get("/api/v1/auth/me").status_code for _ in range(PER_IP_LIMIT)]
        assert set(answers_seen) == {401}
        limited = greedy.get("/api/v1/auth/me")
        problem(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        # Another address behind the same nginx has its own budget.
        assert other.get("/api/v1/auth/me").status_code == 401
        assert other.get("/api/v1/auth/me").headers["ratelimit-remaining"] == str(PER_IP_LIMIT - 2)


def test_a_batch_survives_a_graceful_worker_restart(deployment: Deployment, dee: str) -> None:
    """A deploy restarts the worker mid-batch: the stopped worker hands its items back, the
    new one finishes them, the live stream through nginx sees the end, credits are charged
    once per item."""
    fake = deployment.fake
    with deployment.client("127.0.0.6") as http:
        admin = sign_in(http, "ops@example.com", ADMIN_PASSWORD)
        templates = http.get("/api/v1/admin/workflow-templates", headers=admin).json()["items"]
        patched = http.patch(
            f"/api/v1/admin/workflow-templates/{templates[0]['id']}",
            json={"provider": "gemini", "model": "gemini-2.5-flash-image"},
            headers=admin,
        )
        assert patched.status_code == 200, patched.text
        owner = sign_in(http, dee, USER_PASSWORD)
        client_id = http.get("/api/v1/auth/me", headers=owner).json()["active_client_id"]
        granted = http.post(
            f"/api/v1/admin/clients/{client_id}/credits",
            json={"amount": 200, "reason": "deployed test"},
            headers={**admin, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert granted.status_code in (200, 201), granted.text
        balance = http.get("/api/v1/credits", headers=owner).json()["balance"]
        workflow = http.get("/api/v1/workflows", headers=owner).json()["items"][0]

        # More work (40 items of 0.4 s, two at a time) than the 1-s grace a stopping worker
        # gives its jobs here: the slice is still running when the grace ends.
        fake.default, fake.slow_seconds = "slow", 0.4
        prompts = [f"deployed item {n}" for n in range(40)]
        started = http.post(
            f"/api/v1/workflows/{workflow['id']}/execute",
            json={"prompts": prompts},
            headers=owner,
        )
        assert started.status_code == 202, started.text
        execution_id = started.json()["execution_id"]
        try:
            wait_until(lambda: len(fake.calls) >= 4, "the first items", timeout=60)
        except BaseException:
            state = http.get(f"/api/v1/executions/{execution_id}", headers=owner).text
            print(state, deployment.log_of("worker")[-4000:])
            raise

        stop(deployment.processes["worker"])
        log = deployment.log_of("worker")
        assert "Traceback" not in log, log[-3000:]
        halfway = http.get(f"/api/v1/executions/{execution_id}", headers=owner).json()
        assert halfway["status"] in {"queued", "processing"}, halfway
        assert halfway["progress"]["completed"] < len(prompts)

        deployment.start_worker()
        events = sse_until_finished(http, execution_id, owner)
        assert events[-1] == "completed", events
        done = http.get(f"/api/v1/executions/{execution_id}", headers=owner).json()
        assert done["progress"]["completed"] == len(prompts), done
        results = http.get(
            f"/api/v1/executions/{execution_id}/batch-results", params={"limit": 200}, headers=owner
        ).json()["items"]
        assert sorted(r["status"] for r in results) == ["completed"] * len(prompts)
        spent = balance - http.get("/api/v1/credits", headers=owner).json()["balance"]
        assert spent == len(prompts) * templates[0]["price_credits"]


def test_a_role_that_is_down_answers_problem_json_503(deployment: Deployment) -> None:
    """Last: it stops the view role."""
    view = deployment.processes["view"]
    assert stop(view) in (0, -signal.SIGTERM)
    with deployment.client("127.0.0.7") as http:
        answer = http.get(f"/i/{uuid.uuid4()}")
        problem(answer, 503, "service_unavailable")
        assert answer.headers["retry-after"] == "5"
