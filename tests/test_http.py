"""The HTTP skeleton: problem+json errors, request ids, security headers, limits, ops routes."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from studioflow.app import MOUNTS, create_app, served
from studioflow.platform.errors import Conflict, NotFound
from studioflow.platform.runtime import Platform
from studioflow.platform.site_settings import SiteConfig
from studioflow.settings import Settings

PROBLEM = "application/problem+json"


class Echo(BaseModel):
    name: str
    count: int


def probe_router() -> APIRouter:
    """Routes that exist only in these tests, to drive the shared error handling."""
    router = APIRouter()

    @router.post("/api/v1/_probe/echo")
    async def echo(body: Echo) -> Echo:
        return body

    @router.get("/api/v1/_probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @router.get("/api/v1/_probe/missing")
    async def missing() -> None:
        raise NotFound("No such thing.")

    @router.get("/api/v1/_probe/conflict")
    async def conflict() -> None:
        raise Conflict("Already there.", code="already_exists")

    return router


@pytest.fixture
def probed(app: FastAPI) -> FastAPI:
    app.include_router(probe_router())
    return app


@pytest.fixture
async def probe_client(probed: FastAPI):  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=served(probed), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["title"] and body["detail"]
    return body  # type: ignore[no-any-return]


async def test_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route")
    assert_problem(response, 404, "not_found")


async def test_unknown_page_for_a_browser_is_html(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page", headers={"accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text
    # API paths stay machine-readable even for a browser.
    api = await client.get("/api/v1/nothing", headers={"accept": "text/html"})
    assert_problem(api, 404, "not_found")


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/health")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_malformed_json_is_422(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/api/v1/_probe/echo",
        content=b'{"name": "x", ',
        headers={"content-type": "application/json"},
    )
    body = assert_problem(response, 422, "validation_error")
    assert "JSON" in str(body["detail"])


async def test_invalid_payload_lists_errors_without_echoing_input(
    probe_client: httpx.AsyncClient,
) -> None:
    response = await probe_client.post("/api/v1/_probe/echo", json={"name": "x", "count": "many"})
    body = assert_problem(response, 422, "validation_error")
    errors = body["errors"]
    assert isinstance(errors, list) and errors[0]["loc"] == ["body", "count"]
    assert "many" not in response.text


async def test_valid_payload_round_trips(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post("/api/v1/_probe/echo", json={"name": "x", "count": 2})
    assert response.status_code == 200
    assert response.json() == {"name": "x", "count": 2}


async def test_domain_errors_keep_their_codes(probe_client: httpx.AsyncClient) -> None:
    assert_problem(await probe_client.get("/api/v1/_probe/missing"), 404, "not_found")
    assert_problem(await probe_client.get("/api/v1/_probe/conflict"), 409, "already_exists")


async def test_unexpected_exception_is_500_without_internals(
    probe_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    response = await probe_client.get("/api/v1/_probe/boom", headers={"x-request-id": "req-42"})
    body = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert body["request_id"] == "req-42"
    assert response.headers["x-request-id"] == "req-42"
    # Logged, with the request id, for the operator.
    failed = [r for r in caplog.records if "request.failed" in r.getMessage()]
    assert failed, "the exception was not logged"


async def test_body_over_limit_by_header_is_413(
    probe_client: httpx.AsyncClient, settings: Settings
) -> None:
    payload = json.dumps({"name": "x" * (settings.max_request_bytes + 10), "count": 1})
    response = await probe_client.post(
        "/api/v1/_probe/echo", content=payload, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_body_over_limit_while_streaming_is_413(
    probe_client: httpx.AsyncClient, settings: Settings
) -> None:
    chunk = b"x" * 65536

    async def body():  # type: ignore[no-untyped-def]
        sent = 0
        while sent <= settings.max_request_bytes:
            yield chunk
            sent += len(chunk)

    # No Content-Length: the limit must be enforced on the bytes as they arrive.
    response = await probe_client.post(
        "/api/v1/_probe/echo", content=body(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_request_id_generated_and_echoed(client: httpx.AsyncClient) -> None:
    generated = await client.get("/health")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await client.get("/health", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    # A hostile id (header injection, huge) is replaced, not reflected.
    hostile = await client.get("/health", headers={"x-request-id": "a" * 500})
    assert hostile.headers["x-request-id"] != "a" * 500


async def test_security_headers_on_every_answer(client: httpx.AsyncClient) -> None:
    for path in ("/", "/health", "/nope"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["service"] == "all" and "T" in body["time"]


async def test_ready_checks_every_backing_service(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    expected = {"database", "storage", "queue"} | ({"redis"} if settings.redis_url else set())
    assert set(checks) == expected
    assert all(state == "ok" for state in checks.values())


async def test_ready_names_the_failing_service(settings: Settings, platform) -> None:  # type: ignore[no-untyped-def]
    from studioflow.platform.storage import create_storage

    # Storage pointed at a closed port on loopback: the check must fail and say so.
    platform.storage = create_storage(
        "s3://missing-bucket",
        secret=settings.secret,
        base_url=settings.base_url,
        s3_endpoint_url="http://127.0.0.1:9",
        s3_access_key_id="x",
        s3_secret_access_key="y",
    )
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=served(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/ready")
    body = assert_problem(response, 503, "service_unavailable")
    assert body["failing"] == ["storage"]
    assert "storage" in str(body["detail"])
    assert body["checks"]["database"] == "ok"  # type: ignore[index]


async def test_metrics_expose_requests_latency_and_queue(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await client.get("/health")
    await client.get("/nope")
    text = (await client.get("/metrics")).text
    assert 'studioflow_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "studioflow_http_request_duration_seconds_bucket" in text
    # One series per queue: mail and housekeeping apart from image generation.
    for queue in (settings.queue_name, f"{settings.queue_name}-studio"):
        assert f'studioflow_queue_jobs{{queue="{queue}",state="queued"}}' in text


@pytest.mark.parametrize(
    ("peer", "allowed"), [("127.0.0.1", True), ("::1", True), ("203.0.113.9", False)]
)
async def test_metrics_answer_only_the_allowed_addresses(
    app: FastAPI, peer: str, allowed: bool
) -> None:
    """Embedded, the server is reached directly: /metrics was public (issue 12, item 18)."""
    transport = httpx.ASGITransport(app=served(app), client=(peer, 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        # A forwarded address proves nothing: only the connecting one counts.
        response = await client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    if allowed:
        assert response.status_code == 200 and "studioflow_http_requests" in response.text
    else:
        assert_problem(response, 404, "not_found")
        assert "studioflow" not in response.text.replace("studioflow.dev", "")


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "/health" in spec["paths"] and "/ready" in spec["paths"]
    reference = await client.get("/docs")  # our own page, from the same document
    assert reference.status_code == 200 and "<h1>API reference</h1>" in reference.text
    assert 'id="get-health"' in reference.text and "/api/v1/images/{image_id}" in reference.text
    assert "swagger" not in reference.headers["content-security-policy"].lower()
    assert "'unsafe-inline'" not in reference.headers["content-security-policy"]
    # Every operation can be tried from the page: parameters, a JSON body with the required
    # fields to start from, file inputs for uploads.
    assert 'data-path="/api/v1/images/{image_id}"' in reference.text
    assert 'data-param="image_id" data-in="path"' in reference.text
    execute = reference.text.split('data-path="/api/v1/workflows/{workflow_id}/execute"', 1)[1]
    assert "data-json" in execute.split("</form>", 1)[0]
    upload = reference.text.split('data-path="/upload"', 1)[1].split("</form>", 1)[0]
    assert 'type="file" data-field="file"' in upload
    assert (await client.get("/docs/try")).status_code == 404  # Swagger UI is gone
    assert "cdn" not in reference.text.lower()


async def test_home_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "Studioflow" in response.text
    assert '<a class="skip-link" href="#main">' in response.text
    assert "/static/vendor/htmx/htmx.min.js" in response.text


async def test_design_toast_partial_triggers_a_toast(client: httpx.AsyncClient) -> None:
    response = await client.get("/design/toast", headers={"hx-request": "true"})
    assert response.status_code == 200
    assert json.loads(response.headers["hx-trigger"])["toast"]["kind"] == "success"


async def test_cors_allow_list(settings: Settings, platform) -> None:  # type: ignore[no-untyped-def]
    allowed = settings.model_copy(update={"cors_origins": ["https://app.example.com"]})
    app = create_app(allowed, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=served(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        headers = {"origin": "https://app.example.com", "access-control-request-method": "POST"}
        ok = await client.options("/health", headers=headers)
        assert ok.headers["access-control-allow-origin"] == "https://app.example.com"
        assert ok.headers["x-request-id"]
        evil = await client.get("/health", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in evil.headers


async def test_default_per_ip_limit_on_the_api(settings: Settings, platform) -> None:  # type: ignore[no-untyped-def]
    tight = settings.model_copy(update={"rate_limit_per_ip": "3/minute"})
    # The environment's value is the default of the platform setting (site_settings.py).
    platform.site = SiteConfig(platform.db, tight)
    app = create_app(tight, platform=platform, run_worker=False, configure_logs=False)
    transport = httpx.ASGITransport(app=served(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answers = [await client.get("/api/v1/auth/me") for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        assert answers[0].headers["ratelimit-limit"] == "3"
        assert answers[0].headers["ratelimit-remaining"] == "2"
        refused = answers[-1]
        assert refused.json()["code"] == "rate_limited" and int(refused.headers["retry-after"]) > 0
        # Pages and operations are not counted against the API limit.
        assert (await client.get("/health")).status_code == 200


def test_no_two_routers_claim_the_same_request() -> None:
    """Routers are mounted hot paths first (app.py); that is only an optimisation if no
    request could match routes of two routers, whichever came first."""
    routes = [
        (index, route)
        for index, mount in enumerate(MOUNTS)
        for route in mount.router.routes
        if isinstance(route, APIRoute)
    ]
    assert len(routes) > 100
    clashes = []
    for index, route in routes:
        # A concrete request for this route: every path parameter filled in.
        sample = re.sub(r"\{[^}]+\}", "x1", route.path)
        assert route.path_regex.match(sample), route.path  # the probe itself works
        clashes += [
            (route.path, other.path)
            for other_index, other in routes
            if other_index != index
            and route.methods & other.methods
            and other.path_regex.match(sample)
        ]
    assert clashes == []


async def test_openapi_documents_every_error_answer_as_problem_json(
    client: httpx.AsyncClient,
) -> None:
    """Each operation lists the error answers it can give as problem+json: 422 and 503
    everywhere, 401/403/404 where a guard is named, 429 on the API."""
    document = (await client.get("/openapi.json")).json()
    assert document["components"]["schemas"]["Problem"]["required"][-1] == "code"
    missing = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            answers = operation["responses"]
            for status, entry in answers.items():
                if status.startswith(("4", "5")) and "application/problem+json" not in entry.get(
                    "content", {}
                ):
                    missing.append(f"{method.upper()} {path} {status}: not problem+json")
            for status in ("422", "503"):
                if status not in answers:
                    missing.append(f"{method.upper()} {path}: no {status}")
    me = document["paths"]["/api/v1/auth/me"]["get"]["responses"]
    assert {"401", "403", "404", "429"} <= set(me)
    assert not missing, "\n".join(missing[:20])


async def test_every_role_documents_the_whole_api(settings: Settings, platform) -> None:  # type: ignore[no-untyped-def]
    """Behind a proxy /openapi.json and /docs come from the api role, which listed only its
    own routes (67 of 73 paths) (issue 12, item 17)."""
    from studioflow.settings import Role

    documents = {}
    for role in (Role.all, Role.api, Role.upload, Role.view):
        app = create_app(
            settings, role=role, platform=platform, run_worker=False, configure_logs=False
        )
        transport = httpx.ASGITransport(app=served(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            documents[role] = set((await http.get("/openapi.json")).json()["paths"])
    everything = documents[Role.all]
    assert {"/upload", "/i/{image_id}", "/api/v1/images"} <= everything
    assert all(paths == everything for paths in documents.values()), {
        role: sorted(everything - paths) for role, paths in documents.items()
    }


async def test_health_is_answered_before_routing_like_any_route(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["service"] == "all" and body["time"]
    # Inside the request context and the security headers: headed, logged and counted.
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"
    counted = platform.metrics.registry.get_sample_value(
        "studioflow_http_requests_total", {"method": "GET", "route": "/health", "status": "200"}
    )
    assert counted is not None and counted >= 1
    assert (await client.post("/health")).status_code == 405  # other methods: the router
