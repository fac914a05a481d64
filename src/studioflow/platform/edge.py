"""The one ASGI layer every request crosses.

It gives each request its id, the security headers, the body-size limit, the per-address
limit of the API, request metrics, the access log and the last-resort 500 answer. These were
five middlewares, each with its own wrapper around ``send``: on a cached 20 KB thumbnail they
were a third of the server's time (bench/README.md, "Delivery over HTTP"). Here one wrapper
does all of it, and only for what needs it: a GET without a body has no receive wrapper,
a path outside the API no limiter call.

Requests that need nothing of the app (``GET /health``, a cached public image) are answered
by *fast answers* before the framework, with the same headers, metrics and log line as any
route: a fast answer returns an :class:`Answer`, or ``None`` to let the app answer.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studioflow.platform.client_ip import client_ip
from studioflow.platform.errors import INTERNAL_ERROR_DETAIL, problem

if TYPE_CHECKING:
    from prometheus_client.metrics import Counter, Histogram

    from studioflow.platform.observability import Metrics
    from studioflow.platform.ratelimit import RateLimiter

log = structlog.get_logger("studioflow")
_access_log = logging.getLogger("studioflow")

_REQUEST_ID = b"x-request-id"
# What we accept as a caller's request id: short, printable, no spaces (it goes in logs).
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# Strict by default: no inline script or style, no framing, no plugins. A route that needs
# something else (the API docs, embeds) sets its own header and this one is left alone.
DEFAULT_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def csp_with_uploads(origin: str | None) -> str:
    """The default policy, letting pages PUT direct uploads to the store's ``origin`` (S3's
    presigned URLs are on its host, not ours)."""
    if not origin:
        return DEFAULT_CSP
    return DEFAULT_CSP.replace("connect-src 'self'", f"connect-src 'self' {origin}")


SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)
_CSP = b"content-security-policy"
_FRAME = b"x-frame-options"
_HSTS = (b"strict-transport-security", b"max-age=31536000")
# Requests of these methods usually carry no body; without a length or chunking they have
# none, and their receive is left alone.
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


@dataclass(slots=True)
class Answer:
    """A whole answer from a fast answer: the Edge adds the shared headers and sends it."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    route: str  # what metrics and the access log call it (a route template)


FastAnswer = Callable[[Scope], Awaitable[Answer | None]]


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    hsts: bool
    body_limit: int
    # Path prefixes with a longer body limit (uploads), checked in order.
    body_overrides: Sequence[tuple[str, int]]
    # Every address's limit on the API, read per request (an admin changes it in the platform
    # settings; platform/site_settings.py keeps it in memory).
    ip_limit: Callable[[], str]
    trusted_proxies: Sequence[str]
    api_prefix: str = "/api/"
    csp: str = DEFAULT_CSP


class _BodyTooLarge(Exception):
    pass


class Edge:
    def __init__(
        self,
        app: ASGIApp,
        *,
        config: EdgeConfig,
        metrics: Metrics,
        limiter: RateLimiter,
        answers: Sequence[FastAnswer] = (),
    ) -> None:
        self.app = app
        self.config = config
        self._csp = config.csp.encode()
        self.metrics = metrics
        self.limiter = limiter
        self.answers = tuple(answers)
        # prometheus_client's labels() takes a lock and builds a key on every call; a
        # metric's children are stable objects, kept here per label set (route templates,
        # so a bounded number).
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        incoming = content_length = None
        chunked = False
        for key, value in headers:
            if key == _REQUEST_ID:
                incoming = value.decode("latin-1")
            elif key == b"content-length":
                content_length = value
            elif key == b"transfer-encoding":
                chunked = True
        # token_hex: the same 128 random bits as uuid4().hex without building a UUID object.
        request_id = (
            incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else secrets.token_hex(16)
        )
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        route: str | None = None
        try:
            if scope["method"] in ("GET", "HEAD"):
                answer = await self._fast_answer(scope)
                if answer is not None:
                    status, route = answer.status, answer.route
                    await self._send_answer(send, answer, request_id)
                    return
            status = await self._through_app(
                scope, receive, send, request_id, content_length, chunked
            )
        finally:
            if route is None:
                route = _route_label(scope, status)
            self._observe(scope, route, status, time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("request_id")

    async def _fast_answer(self, scope: Scope) -> Answer | None:
        for fast in self.answers:
            try:
                answer = await fast(scope)
            except Exception:
                # The app has the full rules (and the full error handling): it answers.
                log.exception("request.fast_answer_failed", path=scope["path"])
                return None
            if answer is not None:
                return answer
        return None

    async def _through_app(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        content_length: bytes | None,
        chunked: bool,
    ) -> int:
        config = self.config
        path: str = scope["path"]
        limit = self._body_limit_for(path)
        declared = _as_int(content_length)
        status = 500
        response_started = response_complete = False
        limited: list[tuple[bytes, bytes]] = []

        async def decorated_send(message: Message) -> None:
            nonlocal status, response_started, response_complete
            if message["type"] == "http.response.body" and not message.get("more_body"):
                response_complete = True
            elif message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                present = {key.lower() for key, _ in message.get("headers", ())}
                extra = [(k, v) for k, v in limited if k not in present]
                message = {
                    **message,
                    "headers": self._shared_headers(
                        [*message.get("headers", ()), *extra], present, request_id
                    ),
                }
            await send(message)

        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, decorated_send)
            return status

        if path.startswith(config.api_prefix):
            address = client_ip(Request(scope), list(config.trusted_proxies))
            result = await self.limiter.hit(config.ip_limit(), "ip", "api", address)
            # A tighter limit on the route (an API key's) keeps its own headers.
            limited = [(k.lower().encode(), v.encode()) for k, v in result.headers.items()]
            if not result.allowed:
                limited = []
                await problem(
                    429,
                    code="rate_limited",
                    detail="Too many requests from your address. Slow down and retry later.",
                    headers=dict(result.headers),
                )(scope, receive, decorated_send)
                return status

        app_receive, app_send = receive, decorated_send
        exceeded = replaced = False
        if scope["method"] not in _BODYLESS or content_length is not None or chunked:
            received = 0

            async def limited_receive() -> Message:
                nonlocal received, exceeded
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        exceeded = True
                        raise _BodyTooLarge
                return message

            async def guarded_send(message: Message) -> None:
                # Frameworks catch errors raised while reading the body and answer 400; once
                # the limit is passed, whatever the app answers is replaced by our 413.
                nonlocal replaced
                if not exceeded:
                    await decorated_send(message)
                    return
                if message["type"] == "http.response.start" and not replaced:
                    replaced = True
                    await _too_large(limit)(scope, receive, decorated_send)

            app_receive, app_send = limited_receive, guarded_send

        try:
            await self.app(scope, app_receive, app_send)
        except _BodyTooLarge:
            if not replaced:
                await _too_large(limit)(scope, receive, decorated_send)
        except Exception:
            log.exception("request.failed", method=scope["method"], path=path)
            if response_complete:
                # The framework's handler answered 500 and raised on for servers to log: we
                # logged it, and the answer is whole.
                return status
            if response_started:
                raise  # broken mid-answer: the server drops the connection
            response = problem(
                500, code="internal_error", detail=INTERNAL_ERROR_DETAIL, request_id=request_id
            )
            await response(scope, receive, decorated_send)
        return status

    async def _send_answer(self, send: Send, answer: Answer, request_id: str) -> None:
        present = {key for key, _ in answer.headers}
        headers = self._shared_headers(answer.headers, present, request_id)
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    def _shared_headers(
        self, headers: list[tuple[bytes, bytes]], present: set[bytes], request_id: str
    ) -> list[tuple[bytes, bytes]]:
        """``headers`` with the request id and every security header the answer did not set
        itself (``present``: its header names, lower case)."""
        own_csp = _CSP in present
        for key, value in SECURITY_HEADERS:
            # An answer with its own CSP decides framing by frame-ancestors (embeds).
            if key not in present and not (key == _FRAME and own_csp):
                headers.append((key, value))
        if not own_csp:
            headers.append((_CSP, self._csp))
        if self.config.hsts and _HSTS[0] not in present:
            headers.append(_HSTS)
        headers.append((_REQUEST_ID, request_id.encode()))
        return headers

    def _body_limit_for(self, path: str) -> int:
        for prefix, limit in self.config.body_overrides:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.config.body_limit

    def _observe(self, scope: Scope, route: str, status: int, elapsed: float) -> None:
        method: str = scope["method"]
        children = self._children.get((method, route, status))
        if children is None:
            children = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.latency.labels(method, route),
            )
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(elapsed)
        if (
            route != "/metrics"
            and not route.startswith("/static")
            # Asked of the stdlib logger (cached there): at WARNING the access line costs
            # nothing, not even building its event.
            and _access_log.isEnabledFor(logging.INFO)
        ):
            log.info(
                "http.request",
                method=method,
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )


def _route_label(scope: Scope, status: int) -> str:
    route: Any = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str):
        return template
    # Never the raw path: unknown URLs would give every scanner's probe its own time series.
    path: str = scope["path"]
    if path.startswith("/static/"):
        return "/static"
    if path == getattr(scope.get("app"), "openapi_url", None):
        return path
    return "unmatched" if status == 404 else "other"


def _too_large(limit: int) -> Any:
    return problem(
        413,
        code="payload_too_large",
        detail=f"The request body is larger than the limit of {limit} bytes.",
        limit=limit,
    )


def _as_int(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
