"""Typed domain errors and their RFC 9457 problem+json rendering.

Domain code raises these; one set of handlers turns them (and framework errors) into
``application/problem+json`` bodies with a stable ``code``. Nothing here leaks internals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger("studioflow.errors")
# Seconds a client is asked to wait when the database is busy or away.
RETRY_AFTER_UNAVAILABLE = 2
# Renders the HTML page of an error (status, detail) for people on pages.
HtmlErrorPage = Callable[[Request, int, str | None], Response]

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://studioflow.dev/problems/"

_STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    401: ("not_authenticated", "Not authenticated"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("validation_error", "Validation error"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal server error"),
    503: ("service_unavailable", "Service unavailable"),
}


class AppError(Exception):
    """Base of every error the API answers on purpose."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    # Some refusals must still store what led to them (a failed sign-in in the audit log, a
    # session family revoked on token reuse): the unit of work commits, then the error answers.
    commit: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        commit: bool = False,
    ) -> None:
        super().__init__(detail or self.title)
        self.commit = commit
        self.detail = detail or self.title
        self.instance_code = code or self.code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class BadRequest(AppError):
    pass


class NotAuthenticated(AppError):
    status, code, title = 401, "not_authenticated", "Not authenticated"


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(AppError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class Unprocessable(AppError):
    status, code, title = 422, "validation_error", "Validation error"


class RateLimited(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        headers = {"Retry-After": str(max(1, retry_after)), **kwargs.pop("headers", {})}
        super().__init__(detail, headers=headers, **kwargs)


class TooManyAttempts(RateLimited):
    code, title = "too_many_attempts", "Too many attempts"


class QuotaExceeded(AppError):
    status, code, title = 429, "quota_exceeded", "Quota exceeded"


class InsufficientCredits(AppError):
    status, code, title = 402, "insufficient_credits", "Insufficient credits"


class PaymentRequired(AppError):
    status, code, title = 402, "payment_required", "Payment required"


class ServiceUnavailable(AppError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


def answers(documented: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the problem answers only it gives, each with its codes.

    ``studioflow.openapi`` adds the problem+json body and the answers every route shares."""
    return {status: {"description": text} for status, text in documented.items()}


def problem(
    status: int,
    *,
    code: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    **extra: Any,
) -> JSONResponse:
    default_code, default_title = _STATUS_CODES.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (code or default_code),
        "title": title or default_title,
        "status": status,
        "detail": detail or title or default_title,
        "code": code or default_code,
    }
    if errors is not None:
        body["errors"] = list(errors)
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def _request_id(request: Request) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def _clean_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Keep loc and msg only: echoing "input" back could reflect a password into a log or page.
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def _html_page(request: Request) -> HtmlErrorPage | None:
    """The HTML renderer when the request is for a page (its router marks it so)."""
    html: HtmlErrorPage | None = getattr(request.app.state, "html_error_page", None)
    if html is not None and getattr(request.state, "html_errors", False):
        return html
    return None


async def app_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if (html := _html_page(request)) is not None:
        return html(request, exc.status, exc.detail)
    return problem(
        exc.status,
        code=exc.instance_code,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        request_id=_request_id(request),
        **exc.extra,
    )


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_validation_errors(exc)
    malformed = any(e["type"] == "json_invalid" for e in errors)
    return problem(
        422,
        code="validation_error",
        detail="The request body is not valid JSON." if malformed else "The request is invalid.",
        errors=errors,
        request_id=_request_id(request),
    )


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    # HTML pages for people; problem+json for programs (and every /api path).
    html: HtmlErrorPage | None = getattr(request.app.state, "html_error_page", None)
    if exc.status_code == 404 and html is not None and wants_html(request):
        return html(request, 404, None)
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem(
        exc.status_code,
        detail=detail,
        headers=getattr(exc, "headers", None),
        request_id=_request_id(request),
    )


def wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept


async def integrity_error_handler(request: Request, exc: Exception) -> Response:
    # Services check uniqueness first; this answers the race two requests can still run
    # into (both pass the check, one commit fails) as the conflict it is, not as a 500.
    return problem(
        409,
        code="conflict",
        detail="This conflicts with data that already exists. Reload and try again.",
        request_id=_request_id(request),
    )


async def database_error_handler(request: Request, exc: Exception) -> Response:
    # SQLSTATE class 22 is "data exception": a value the column cannot hold (out of range,
    # too long, a NUL in text) that got past validation. The caller's value, not our fault:
    # a 422. Anything else the database raised is ours: the 500 it was before.
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")
    if sqlstate.startswith("22"):
        log.warning("db.data_error", sqlstate=sqlstate, path=request.url.path)
        return problem(
            422,
            code="invalid_value",
            detail="A value is out of range or not storable as given.",
            request_id=_request_id(request),
        )
    raise exc  # to the request middleware, which logs it with the request id and answers 500


async def unavailable_handler(request: Request, exc: Exception) -> Response:
    # The database is busy past the writer timeout (the write pool or SQLite's lock), or it
    # does not answer: nothing the client did wrong, and worth a retry shortly.
    log.warning("db.unavailable", error=type(exc).__name__, path=request.url.path)
    return problem(
        503,
        code="service_unavailable",
        detail="The database is busy or unreachable. Try again in a moment.",
        headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        request_id=_request_id(request),
    )


INTERNAL_ERROR_DETAIL = "Something went wrong on our side. Quote the request id if you report it."


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    # Imported here: error_log reads through the repositories, which import this module.
    from studioflow.platform import error_log

    request_id = _request_id(request)
    await error_log.record(request, exc, request_id)
    return problem(500, code="internal_error", detail=INTERNAL_ERROR_DETAIL, request_id=request_id)


def install_error_handlers(app: FastAPI, *, html_error_page: HtmlErrorPage | None = None) -> None:
    """``html_error_page`` renders the 404 page browsers get outside the API."""
    app.state.html_error_page = html_error_page
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(DBAPIError, database_error_handler)
    for unavailable in (PoolTimeout, OperationalError, InterfaceError, ConnectionRefusedError):
        app.add_exception_handler(unavailable, unavailable_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    # Anything else: Starlette's error middleware answers with this and raises on; the Edge
    # (platform/edge.py) in front logs it once, with the request id.
    app.add_exception_handler(Exception, internal_error_handler)
