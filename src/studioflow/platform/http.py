"""HTTP middleware that knows no domain: security headers and request body limits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studioflow.platform.client_ip import client_ip
from studioflow.platform.errors import problem

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform

# Strict by default: no inline script or style, no framing, no plugins. A route that needs
# something else (the API docs, embeds) sets its own header and this one is left alone.
DEFAULT_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                for key, value in SECURITY_HEADERS:
                    # A route with its own CSP decides framing by frame-ancestors (embeds).
                    if key == b"x-frame-options" and b"content-security-policy" in present:
                        continue
                    if key not in present:
                        headers.append((key, value))
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", DEFAULT_CSP.encode()))
                if self.hsts and b"strict-transport-security" not in present:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Refuse bodies over the limit with 413, by header at once or while streaming.

    ``overrides`` gives longer-limit path prefixes (uploads), checked in order.
    """

    def __init__(
        self, app: ASGIApp, *, default: int, overrides: Sequence[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.default = default
        self.overrides = tuple(overrides)

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit)(scope, receive, send)
            return

        received = 0
        exceeded = False
        replaced = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def send_wrapper(message: Message) -> None:
            # Frameworks catch errors raised while reading the body and answer 400; once the
            # limit is passed, whatever the app answers is replaced by our 413.
            nonlocal replaced
            if not exceeded:
                await send(message)
                return
            if message["type"] == "http.response.start" and not replaced:
                replaced = True
                await _too_large(limit)(scope, receive, send)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        except _BodyTooLarge:
            if not replaced:
                replaced = True
                await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> JSONResponse:
    return problem(
        413,
        code="payload_too_large",
        detail=f"The request body is larger than the limit of {limit} bytes.",
        limit=limit,
    )


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class IpRateLimitMiddleware:
    """The default per-address limit on the API, with the RateLimit headers of API.md."""

    def __init__(
        self, app: ASGIApp, *, platform: Platform, limit: str, prefix: str = "/api/"
    ) -> None:
        self.app = app
        self.platform = platform
        self.limit = limit
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        address = client_ip(request, self.platform.settings.trusted_proxies)
        result = await self.platform.limiter.hit(self.limit, "ip", "api", address)
        headers = [(k.lower().encode(), v.encode()) for k, v in result.headers.items()]
        if not result.allowed:
            response = problem(
                429,
                code="rate_limited",
                detail="Too many requests from your address. Slow down and retry later.",
                headers=dict(result.headers),
            )
            await response(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", [])}
                # A tighter limit on the route (an API key's) keeps its own headers.
                extra = [(k, v) for k, v in headers if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_wrapper)
