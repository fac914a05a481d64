"""Operations endpoints, served by every role: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.types import Scope

from studioflow.platform.client_ip import peer_in
from studioflow.platform.edge import Answer
from studioflow.platform.errors import problem
from studioflow.platform.observability import read_queue_depth

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform

router = APIRouter(tags=["operations"])


def liveness(role: str, at: float | None = None) -> dict[str, str]:
    now = datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)
    return {"status": "ok", "service": role, "time": now.isoformat(timespec="seconds")}


class Liveness:
    """``GET /health`` as a fast answer of the Edge (platform/edge.py), before routing.

    Load balancers and orchestrators ask it of every process every few seconds, and it needs
    nothing of the app: routing among the app's routes and FastAPI's response handling were
    most of its cost (bench/README.md, "Delivery over HTTP"). The Edge logs, counts and heads
    it like any route; the route below stays for the OpenAPI document.
    """

    def __init__(self, role: str) -> None:
        self.role = role
        self._body: tuple[int, bytes] = (-1, b"")

    async def __call__(self, scope: Scope) -> Answer | None:
        if scope["path"] != "/health" or scope["method"] != "GET":
            return None
        # The body changes once a second (its time is to the second): built once a second,
        # not once per probe.
        second = int(time.time())
        if self._body[0] != second:
            body = json.dumps(liveness(self.role, second), separators=(",", ":")).encode()
            self._body = (second, body)
        body = self._body[1]
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        return Answer(200, headers, body, "/health")


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
