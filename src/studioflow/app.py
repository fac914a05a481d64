"""The application factory: routers for the process role, middleware, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

import studioflow.tasks  # noqa: F401  (registers every task with the queue)
from studioflow import __version__
from studioflow.admin import endpoints as admin_endpoints
from studioflow.billing import endpoints as billing_endpoints
from studioflow.booking import endpoints as booking_endpoints
from studioflow.clients import endpoints as client_endpoints
from studioflow.identity import api_keys
from studioflow.identity import endpoints as identity_endpoints
from studioflow.media import analytics
from studioflow.media import delivery as media_delivery
from studioflow.media import endpoints as media_endpoints
from studioflow.media.delivery_cache import DeliveryCache, publish_changes
from studioflow.media.hot_path import HotDelivery
from studioflow.notifications import endpoints as notifications_endpoints
from studioflow.openapi import document_errors
from studioflow.payments import endpoints as payments_endpoints
from studioflow.platform import files, health
from studioflow.platform.edge import Edge, EdgeConfig, FastAnswer, csp_with_uploads
from studioflow.platform.errors import install_error_handlers
from studioflow.platform.health import Liveness
from studioflow.platform.observability import configure_logging, watch_loop_lag
from studioflow.platform.runtime import Platform, build_platform, freeze_startup_heap
from studioflow.settings import Role, Settings
from studioflow.shop import endpoints as shop_endpoints
from studioflow.studio import admin_api, settings_api
from studioflow.studio import endpoints as studio_endpoints
from studioflow.support import endpoints as support_endpoints
from studioflow.web import (
    account_pages,
    admin_pages,
    booking_pages,
    docs,
    media_pages,
    pages,
    shop_pages,
    studio_pages,
    support_pages,
    workspace_pages,
)
from studioflow.web.auth import SignInRequired, sign_in_required
from studioflow.web.templating import STATIC_DIR, render_error_page

# Paths whose bodies may be as large as an upload; everything else gets max_request_bytes.
UPLOAD_PATHS = ("/upload", "/api/v1/images")


@dataclass(frozen=True)
class Mount:
    router: APIRouter
    roles: frozenset[Role]


_EVERY_ROLE = frozenset(Role)
_API = frozenset({Role.all, Role.api})
_VIEW = frozenset({Role.all, Role.view})
_UPLOAD = frozenset({Role.all, Role.upload})

# Which process role serves which routes (the hosting seed's auth/upload/view split).
# Features add their routers here as they land. FastAPI tries routes one by one, in this
# order, at ~3 µs each (a request to the last of ~120 spent 0.25 ms finding it), so what
# programs call in loops comes first: delivery, booking pages' free slots, then the API
# (studio first), then the pages. No two routers' paths overlap (tests/test_http.py), so
# the order changes nothing else.
MOUNTS: tuple[Mount, ...] = (
    Mount(health.router, _EVERY_ROLE),
    Mount(media_delivery.router, _VIEW),
    Mount(files.router, _VIEW),
    Mount(files.upload_router, _UPLOAD),
    Mount(booking_endpoints.slots_router, _API),
    Mount(studio_endpoints.router, _API),
    Mount(media_endpoints.upload_router, _UPLOAD),
    Mount(media_endpoints.router, _API),
    Mount(identity_endpoints.router, _API),
    Mount(client_endpoints.router, _API),
    Mount(billing_endpoints.router, _API),
    Mount(settings_api.router, _API),
    Mount(support_endpoints.router, _API),
    Mount(booking_endpoints.router, _API),
    Mount(notifications_endpoints.router, _API),
    Mount(payments_endpoints.router, _API),
    Mount(shop_endpoints.router, _API),
    Mount(admin_endpoints.router, _API),
    Mount(admin_endpoints.public_router, _API),
    Mount(admin_api.router, _API),
    Mount(docs.router, _EVERY_ROLE),
    Mount(pages.router, _API),
    Mount(account_pages.router, _API),
    Mount(media_pages.router, _API),
    Mount(studio_pages.router, _API),
    Mount(workspace_pages.router, _API),
    Mount(support_pages.router, _API),
    Mount(booking_pages.router, _API),
    Mount(shop_pages.router, _API),
    Mount(admin_pages.router, _API),
)


def create_app(
    settings: Settings,
    *,
    role: Role = Role.all,
    platform: Platform | None = None,
    run_worker: bool | None = None,
    configure_logs: bool = True,
) -> FastAPI:
    """Build the ASGI app for ``role``.

    ``platform`` may be given (tests, or a process that built it already); otherwise the
    lifespan builds one from ``settings`` and closes it on shutdown. ``run_worker`` defaults
    to running the embedded SAQ worker in this event loop when there is no Redis.
    """
    if configure_logs:
        configure_logging(json_logs=settings.is_production, level=settings.log_level)
    owns_platform = platform is None
    the_platform = platform or build_platform(settings)
    start_worker = run_worker if run_worker is not None else settings.embedded_queue
    # Every process that writes tells the delivery caches what changed; the roles that
    # deliver keep one.
    publish_changes(the_platform)
    cache = DeliveryCache(
        maxsize=settings.delivery_cache_entries,
        ttl=settings.delivery_cache_ttl_seconds,
        bytes_budget=settings.delivery_cache_bytes,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start_worker:
            await the_platform.start_worker()
        lag = asyncio.create_task(watch_loop_lag(the_platform.metrics), name="loop-lag")
        following = asyncio.create_task(cache.follow(the_platform), name="delivery-cache")
        tally = asyncio.create_task(the_platform.tally.run(), name="tally")
        site = asyncio.create_task(
            the_platform.site.follow(the_platform.events), name="site-settings"
        )
        if owns_platform:  # a server process of its own (tests hand in their platform)
            if role in _VIEW:
                # ua_parser builds its parser on first use (~180 ms): at start-up, not in
                # the serving loop under the first view's tally write.
                analytics.classify("Mozilla/5.0")
            freeze_startup_heap()
        try:
            yield
        finally:
            lag.cancel()
            following.cancel()
            site.cancel()
            tally.cancel()  # it writes what is pending as it stops
            with contextlib.suppress(asyncio.CancelledError):
                await tally
            if settings.embedded_queue:
                # The in-memory buffers die with the process: write them out first.
                with contextlib.suppress(Exception):
                    await analytics.flush(the_platform)
                with contextlib.suppress(Exception):
                    await api_keys.flush_uses(the_platform)
            if owns_platform:
                await the_platform.close()
            elif start_worker:
                await the_platform.stop_worker()

    app = FastAPI(
        title="Studioflow",
        version=__version__,
        summary="AI image batches, image hosting and delivery, and the business around them.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.platform = the_platform
    app.state.settings = settings
    app.state.role = role.value
    app.state.delivery_cache = cache

    install_error_handlers(app, html_error_page=render_error_page)
    app.add_exception_handler(SignInRequired, sign_in_required)
    for mount in MOUNTS:
        if role in mount.roles:
            app.include_router(mount.router)
    # The whole API is documented whichever role serves /openapi.json and /docs (behind a
    # proxy they come from the api role, which serves only its own routes).
    documented = [
        route for mount in MOUNTS for route in mount.router.routes if isinstance(route, APIRoute)
    ]
    # The documented "extending OpenAPI" hook: every operation lists its error answers.
    app.openapi = lambda: document_errors(app, documented)  # type: ignore[method-assign]
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "X-API-Key",
                "X-CSRF-Token",
                "X-Client-Id",
                "X-Request-ID",
                "Idempotency-Key",
                "Last-Event-ID",
            ],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
            max_age=600,
        )
    # The Edge is in front of the whole framework (served() below): even a 413, a CORS
    # preflight or a 500 carries a request id and the security headers, and /health and (view
    # roles) cached hits of /i/ are answered in it without crossing FastAPI's own layers;
    # the routes answer the rest.
    answers: list[FastAnswer] = [Liveness(role.value)]
    if role in _VIEW:
        answers.append(HotDelivery(platform=the_platform, cache=cache))
    app.state.served = Edge(
        app,
        config=EdgeConfig(
            hsts=settings.secure_cookies,
            body_limit=settings.max_request_bytes,
            body_overrides=[(path, settings.max_upload_bytes) for path in UPLOAD_PATHS],
            ip_limit=lambda: the_platform.site.current.rate_limit_per_ip,
            csp=csp_with_uploads(the_platform.storage.upload_origin),
            trusted_proxies=settings.trusted_proxies,
        ),
        metrics=the_platform.metrics,
        limiter=the_platform.limiter,
        answers=answers,
    )
    return app


def served(app: FastAPI) -> ASGIApp:
    """The app as a server runs it: the Edge (platform/edge.py) in front of ``app``.

    Not a middleware of the FastAPI app: Starlette puts its own error and exception layers
    outside every added middleware, and a cached thumbnail crossing them cost a fifth of its
    time (bench/README.md, "Delivery over HTTP"). Servers, tests and benches call this.
    """
    entry: ASGIApp = app.state.served
    return entry
