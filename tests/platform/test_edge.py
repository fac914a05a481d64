"""The Edge (platform/edge.py) in front of an app: fast answers, and what it does when one
of them fails."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from starlette.types import Scope

from studioflow.platform.edge import Answer, Edge, EdgeConfig
from studioflow.platform.errors import install_error_handlers
from studioflow.platform.observability import Metrics
from studioflow.platform.ratelimit import RateLimiter

CONFIG = EdgeConfig(
    hsts=False, body_limit=1_000, body_overrides=(), ip_limit="100/minute", trusted_proxies=()
)


def edge_in_front(*answers: object) -> Edge:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/thing")
    async def thing() -> dict[str, str]:
        return {"from": "route"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    return Edge(
        app,
        config=CONFIG,
        metrics=Metrics(),
        limiter=RateLimiter.in_memory(),
        answers=answers,  # type: ignore[arg-type]
    )


async def get(edge: Edge, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=edge, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        return await client.get(path)


async def test_a_fast_answer_gets_the_shared_headers() -> None:
    async def fast(scope: Scope) -> Answer | None:
        if scope["path"] != "/thing":
            return None
        return Answer(200, [(b"content-type", b"text/plain")], b"fast", "/thing")

    response = await get(edge_in_front(fast), "/thing")
    assert response.text == "fast"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert len(response.headers["x-request-id"]) == 32


async def test_a_failing_fast_answer_leaves_the_answer_to_the_app() -> None:
    async def broken(scope: Scope) -> Answer | None:
        raise KeyError("a bug in the fast path")

    response = await get(edge_in_front(broken), "/thing")
    assert response.status_code == 200 and response.json() == {"from": "route"}


async def test_an_unhandled_error_is_one_problem_answer_with_the_request_id() -> None:
    response = await get(edge_in_front(), "/boom")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "internal_error"
    assert body["request_id"] == response.headers["x-request-id"]
    assert response.headers["x-frame-options"] == "DENY"
    assert "a bug" not in response.text
