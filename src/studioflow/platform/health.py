"""Operations endpoints, served by every role: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.types import ASGIApp, Receive, Scope, Send

from studioflow.platform.client_ip import peer_in
from studioflow.platform.errors import problem
from studioflow.platform.observability import read_queue_depth

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform

router = APIRouter(tags=["operations"])
# What the access log and the metrics call the route (Starlette puts the matched route here).
_HEALTH_ROUTE = SimpleNamespace(path_format="/health")


def liveness(role: str) -> dict[str, str]:
    return {"status": "ok", "service": role, "time": datetime.now(UTC).isoformat()}


class LivenessMiddleware:
    """``GET /health`` answered before routing, with the route's body.

    Load balancers and orchestrators ask it of every process every few seconds, and it needs
    nothing of the app: routing among the app's routes and FastAPI's response handling were
    most of its cost (bench/README.md, "Delivery over HTTP"). It sits inside the request
    context and the security headers, so it is logged, counted and headed like any route; the
    route below stays for the OpenAPI document and for apps built without this middleware.
    """

    def __init__(self, app: ASGIApp, *, role: str) -> None:
        self.app = app
        self.role = role

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/health" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        scope["route"] = _HEALTH_ROUTE
        body = json.dumps(liveness(self.role), separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


@router.get("/health")
async def health(request: Request) -> dict[str, str]:
    """Liveness: the process answers."""
    return liveness(request.app.state.role)


@router.get("/ready", responses={503: {"description": "A backing service does not answer"}})
async def ready(request: Request) -> Response:
    """Readiness: the database, storage, queue (and Redis when configured) answer."""
    report = await request.app.state.platform.readiness()
    failing = sorted(name for name, state in report.items() if state != "ok")
    if failing:
        return problem(
            503,
            code="service_unavailable",
            detail=f"Not ready: {', '.join(failing)} failed.",
            checks=report,
            failing=failing,
            headers={"Retry-After": "5"},
        )
    body: dict[str, Any] = {"status": "ready", "checks": report}
    return JSONResponse(body)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text format. Queue depth is read now, so it is never stale. Only for the
    addresses in METRICS_ALLOW (loopback by default): anyone else finds nothing here."""
    platform: Platform = request.app.state.platform
    if not peer_in(request, platform.settings.metrics_allow):
        return problem(404, code="not_found", detail="Not found.")
    await read_queue_depth(platform)
    registry = platform.metrics.registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several server processes: sum every process's figures, whichever one answers.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
