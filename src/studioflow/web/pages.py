"""Pages of the web shell: home and the design system reference."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from studioflow.clients.service import my_clients
from studioflow.platform.db import SessionDep
from studioflow.web.session import page_principal
from studioflow.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: SessionDep) -> HTMLResponse:
    settings = request.app.state.platform.settings
    principal = await page_principal(request, session)
    memberships = await my_clients(session, principal.user_id) if principal else []
    return render(
        request,
        "home.html",
        {
            "principal": principal,
            "memberships": memberships,
            "mode": "embedded" if settings.embedded_queue else "at scale",
            "database": request.app.state.platform.db.dialect,
            "storage": request.app.state.platform.storage.kind,
        },
    )


@router.get("/design", response_class=HTMLResponse)
async def design(request: Request) -> HTMLResponse:
    return render(request, "design.html")


@router.get("/design/toast", response_class=HTMLResponse)
async def design_toast(request: Request) -> HTMLResponse:
    """An HTMX round trip that answers with a toast, to show (and test) the pattern."""
    response = render(request, "partials/toast_demo.html")
    response.headers["HX-Trigger"] = (
        '{"toast": {"message": "Saved. This toast came from the server.", "kind": "success"}}'
    )
    return response


@router.get("/favicon.ico")
async def favicon() -> RedirectResponse:
    """Browsers ask for this path on their own; send them to the SVG icon."""
    return RedirectResponse("/static/favicon.svg", status_code=301)
