"""Jinja2 environment shared by every page, and the HTML error pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from studioflow import __version__

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"

templates = Jinja2Templates(directory=WEB_DIR / "templates")
templates.env.globals["version"] = __version__

# The main navigation: (label, path). Features add their entries as they land.
NAVIGATION: list[tuple[str, str]] = [
    ("Home", "/"),
    ("Design system", "/design"),
    ("API docs", "/docs"),
]
SIGNED_OUT = [("Sign in", "/login"), ("Sign up", "/signup")]


def navigation_for(context: dict[str, Any]) -> list[tuple[str, str]]:
    principal = context.get("principal")
    if principal is None:
        return [*NAVIGATION, *SIGNED_OUT]
    client = principal.client_id
    items = [
        ("Home", "/"),
        ("Studio", "/studio"),
        ("Images", "/images"),
        ("Credits", "/credits"),
        ("Account", "/account"),
        ("Teams", "/clients"),
        ("Members", f"/clients/{client}/members"),
    ]
    if principal.can("activity:read"):
        items.append(("Activity", f"/clients/{client}/activity"))
    if principal.is_platform_admin:
        items.append(("Admin", "/admin/studio"))
    return [*items, ("API docs", "/docs")]


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    context = context or {}
    base = {
        "request": request,
        "navigation": navigation_for(context),
        "current_path": request.url.path,
        "request_id": request.scope.get("state", {}).get("request_id"),
    }
    return templates.TemplateResponse(
        request, template, {**base, **context}, status_code=status_code
    )


_ERROR_TEXT = {
    403: ("Not allowed", "Your role in this workspace does not let you see this page."),
    404: ("Page not found", "We could not find that page. It may have moved or never existed."),
    500: ("Something went wrong", "An error on our side stopped this page. Try again shortly."),
}


def render_error_page(request: Request, status: int, detail: str | None = None) -> HTMLResponse:
    title, message = _ERROR_TEXT.get(status, ("Error", detail or "The request failed."))
    if status not in (403, 404, 500) and detail:
        message = detail  # a refusal that says why (a bad cursor, a quota)
    return render(
        request,
        "errors/error.html",
        {"status": status, "title": title, "message": message},
        status_code=status,
    )
