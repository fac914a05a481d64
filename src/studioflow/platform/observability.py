"""Structured logs and Prometheus metrics (request ids and the access log are the Edge's,
platform/edge.py).

Logs are JSON in production and readable in development; every line written while a request
is handled carries its ``request_id``. Values under secret-looking keys are masked before any
renderer sees them, so a careless ``log.info("x", password=...)`` still leaks nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from studioflow.platform.runtime import Platform

_SENSITIVE = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|api[_-]?key|credential|session|otp|code_hash",
    re.IGNORECASE,
)
REDACTED = "[redacted]"


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key != "event" and _SENSITIVE.search(key):
            event_dict[key] = REDACTED
    return event_dict


def configure_logging(*, json_logs: bool, level: str = "info") -> None:
    """Route structlog and the standard library (uvicorn, SAQ, alembic) through one pipeline."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            # The standard library's traceback: rich's pretty one took 0.1-0.2 s per error
            # (60 frames; seconds for a real request's stack in `make run`) on the event loop,
            # stalling every other request. Locals are never printed (passwords, tokens).
            exception_formatter=structlog.dev.plain_traceback,
        )
    )
    structlog.configure(
        # filter_by_level first: a disabled level costs one check, not the whole pipeline.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if json_logs else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # We write our own access log with the request id; uvicorn's would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error", "saq", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _identity(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return event_dict


class Metrics:
    """Prometheus figures of one app instance (own registry, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "studioflow_http_requests",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "studioflow_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "studioflow_queue_jobs",
            "Jobs in the queue by state (read at scrape time).",
            ["queue", "state"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.jobs = Counter(
            "studioflow_jobs",
            "Background jobs finished by function and outcome.",
            ["function", "outcome"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "studioflow_job_duration_seconds",
            "Background job run time by function.",
            ["function"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900),
            registry=self.registry,
        )
        self.provider_calls = Counter(
            "studioflow_provider_calls",
            "Image provider calls by provider.",
            ["provider"],
            registry=self.registry,
        )
        self.provider_failures = Counter(
            "studioflow_provider_failures",
            "Image provider failures by provider and kind (retryable, quota, safety, ...).",
            ["provider", "kind"],
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "studioflow_event_loop_lag_seconds",
            "How late the event loop ran a timer: the time it was busy with something else "
            "(every request of the process waited as long).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.loop_lag_max = Gauge(
            "studioflow_event_loop_lag_max_seconds",
            "The longest event loop stall since the process started.",
            registry=self.registry,
        )


LOOP_LAG_INTERVAL = 0.005


async def watch_loop_lag(metrics: Metrics, *, interval: float = LOOP_LAG_INTERVAL) -> None:
    """Measure how late a short sleep wakes up, forever: a stall of the event loop (a blocking
    call, a heavy computation in the loop's thread) shows up as lag. Cancel to stop."""
    worst = 0.0
    while True:
        started = time.perf_counter()
        await asyncio.sleep(interval)
        lag = max(0.0, time.perf_counter() - started - interval)
        metrics.loop_lag.observe(lag)
        if lag > worst:
            worst = lag
            metrics.loop_lag_max.set(worst)


async def read_queue_depth(platform: Platform) -> None:
    """Set the queue-depth gauge from the queues now, one series per queue and state."""
    try:
        depth = await platform.queue.depth()
    except Exception:  # the scrape still answers (the queue's own failure shows in /ready)
        return
    for queue, states in depth.items():
        for state, value in states.items():
            platform.metrics.queue_depth.labels(queue, state).set(value)


async def keep_queue_depth(platform: Platform, interval: float = 15.0) -> None:
    """A worker's metrics port is served from a thread that cannot ask the queue: refresh
    the gauge on the worker's own loop instead, as often as a scraper would look."""
    while True:
        await read_queue_depth(platform)
        await asyncio.sleep(interval)
