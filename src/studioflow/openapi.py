"""The OpenAPI document with the error answers every operation can give, as problem+json.

FastAPI documents what a route returns on success (and a 422 in its own JSON shape). Every
route here can also answer, by construction: 422 for a bad path, query or body; 503 when the
database is busy or away; 429 on /api and upload paths and wherever an API key is taken
(per-address, per-key and per-plan limits); 400 when it takes a body that cannot be parsed;
401 and 403 when it names a guard (``Authenticator``); 404 when it has path parameters or
acts in a client named by ``X-Client-Id``. Those are added to each operation here, derived
from the route itself, so a new route is documented without repeating it. Answers only one
route gives (400, 402, 409, 413, 415, or 401 where no guard is named) are declared on it
with ``responses=answers({...})`` (``platform/errors.py``), each with its codes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from studioflow.identity.auth import Authenticator
from studioflow.platform.errors import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details with a stable machine code.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "request_id": {"type": "string"},
    },
    "additionalProperties": True,
}

_TEXT = {
    "400": "The body could not be read as its content type says (`bad_request`).",
    "401": "Not signed in, or the token or API key is not valid (`not_authenticated`, "
    "`token_expired`, `invalid_api_key`).",
    "403": "Signed in without the permission this needs (`forbidden`), with an API key where "
    "only a user may act (`api_key_not_allowed`), or without the CSRF header (`csrf_failed`).",
    "404": "No such object in the active client: another client's answers alike (`not_found`).",
    "422": "The path, query or body is not valid (`validation_error`, with `errors`).",
    "429": "Too many requests from this address or API key (`rate_limited`), or over the "
    "plan's hourly API requests (`quota_exceeded`); see `Retry-After`.",
    "503": "The database is busy or unreachable (`service_unavailable`); see `Retry-After`.",
}


def _guarded(route: APIRoute) -> bool:
    def walk(dependant: Any) -> Iterator[bool]:
        for dependency in dependant.dependencies:
            yield isinstance(dependency.call, Authenticator)
            yield from walk(dependency)

    return any(walk(route.dependant))


def _statuses(route: APIRoute) -> set[str]:
    statuses = {"422", "503"}
    guarded = _guarded(route)
    if route.path.startswith(("/api/", "/upload")) or guarded:
        statuses.add("429")  # the address's limit, or the API key's hourly one
    if guarded:
        statuses |= {"401", "403", "404"}
    if "{" in route.path:
        statuses.add("404")
    if route.body_field is not None:
        statuses.add("400")
    return statuses


def document_errors(app: FastAPI, routes: Sequence[APIRoute]) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` (every role's, not only those this process
    serves) with the error answers added, cached on the app."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        routes=routes,
    )
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    paths = schema.get("paths", {})
    for route in routes:
        if not route.include_in_schema or route.path not in paths:
            continue
        for method in route.methods or ():
            operation = paths[route.path].get(method.lower())
            if operation is None:
                continue
            answers = operation.setdefault("responses", {})
            for status in _statuses(route):
                entry = answers.setdefault(status, {"description": _TEXT[status]})
                entry["content"] = problem  # FastAPI's own 422 shape is not what we send
                entry.setdefault("description", _TEXT[status])
            for status, entry in answers.items():
                if status.startswith(("4", "5")) and "content" not in entry:
                    entry["content"] = problem
    app.openapi_schema = schema
    return schema
