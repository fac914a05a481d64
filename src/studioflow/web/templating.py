"""Jinja2 environment shared by every page, and the HTML error pages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from studioflow import __version__
from studioflow.web.activity_text import sentence
from studioflow.web.labels import device_label, plural, scope_summary

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"

templates = Jinja2Templates(directory=WEB_DIR / "templates")
templates.env.globals["version"] = __version__
templates.env.filters["sentence"] = sentence
templates.env.filters["device"] = device_label
templates.env.filters["scopes"] = scope_summary
templates.env.filters["plural"] = plural

# What visitors see in the top bar: (label, path).
PUBLIC_NAVIGATION: list[tuple[str, str]] = [
    ("Features", "/#features"),
    ("API docs", "/docs"),
]


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    icon: str  # a symbol id in partials/icons.html
    current: bool = False


@dataclass(frozen=True)
class NavGroup:
    label: str
    items: list[NavItem]


def _sidebar(principal: Any) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """The signed-in sidebar, grouped by area. Features add their entries as they land."""
    client = principal.client_id
    workspace = [("Members", f"/clients/{client}/members", "users")]
    if principal.can("activity:read"):
        workspace.append(("Activity", f"/clients/{client}/activity", "list"))
    workspace.append(("Credits", "/credits", "coin"))
    if principal.can("settings:read"):
        workspace.append(("Settings", "/settings", "gear"))
    workspace.append(("All workspaces", "/clients", "grid"))
    groups = [
        ("", [("Dashboard", "/dashboard", "home")]),
        ("Create", [("Studio", "/studio", "spark"), ("Runs", "/studio/executions", "clock")]),
        ("Library", [("Images", "/images", "image"), ("Albums", "/albums", "folder")]),
    ]
    booking = [("My appointments", "/appointments", "clock")]
    if principal.can("booking:read"):
        booking = [
            ("Calendar", "/booking/calendar", "clock"),
            ("Appointments", "/booking/appointments", "list"),
            ("Services and staff", "/booking", "users"),
            *booking,
        ]
    shop = [
        ("Shop", "/shop", "grid"),
        ("Cart", "/cart", "coin"),
        ("My orders", "/orders", "list"),
        ("Wallet", "/wallet", "coin"),
    ]
    if principal.can("shop:read"):
        shop.append(("Selling", "/seller", "users"))
    groups += [("Booking", booking), ("Shop", shop), ("Workspace", workspace)]
    if principal.is_platform_admin:
        groups.append(
            (
                "Platform",
                [
                    ("Overview", "/admin", "home"),
                    ("Users", "/admin/users", "users"),
                    ("Workspaces", "/admin/clients", "grid"),
                    ("Plans", "/admin/plans", "coin"),
                    ("Support tickets", "/admin/tickets", "bell"),
                    ("Studio admin", "/admin/studio", "shield"),
                    ("Credit requests", "/admin/credits", "coin"),
                    ("Credit packs", "/admin/credit-packs", "coin"),
                    ("Sellers", "/admin/sellers", "users"),
                    ("Finances", "/admin/finances", "coin"),
                    ("Errors", "/admin/errors", "shield"),
                    ("Jobs", "/admin/jobs", "list"),
                    ("Platform settings", "/admin/settings", "gear"),
                ],
            )
        )
    help_links = [("API docs", "/docs", "book")]
    if principal.can("support:read"):
        help_links.insert(0, ("Support", "/support", "bell"))
    groups.append(("Help", help_links))
    return groups


def navigation_for(context: dict[str, Any], path: str) -> list[NavGroup]:
    """The sidebar of a signed-in page, its current entry marked: the longest path that is
    this page's path or a parent of it (so an image's page marks "Images")."""
    principal = context.get("principal")
    if principal is None:
        return []
    groups = _sidebar(principal)
    paths = [p for _, items in groups for _, p, _ in items]
    matching = [p for p in paths if path == p or path.startswith(p.rstrip("/") + "/")]
    current = max(matching, key=len) if matching else None
    return [
        NavGroup(label, [NavItem(name, p, icon, p == current) for name, p, icon in items])
        for label, items in groups
    ]


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    context = context or {}
    base = {
        "request": request,
        "navigation": navigation_for(context, request.url.path),
        "public_navigation": PUBLIC_NAVIGATION,
        "current_path": request.url.path,
        "request_id": request.scope.get("state", {}).get("request_id"),
        # The platform settings' banner, from this process's copy (no query).
        "site_banner": request.app.state.platform.site.current.maintenance_banner,
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
