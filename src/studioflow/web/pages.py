"""Pages of the web shell: home and the design system reference."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from studioflow.web.auth import OptionalPage, PageView, html_errors
from studioflow.web.templating import STATIC_DIR, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(html_errors)])


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request, page: Annotated[PageView | None, Depends(OptionalPage())]
) -> Response:
    """The product page for visitors; a signed-in user goes on to where they work."""
    if page is not None:
        return RedirectResponse("/start", status_code=303)
    settings = request.app.state.platform.settings
    return render(
        request,
        "home.html",
        {"mode": "embedded" if settings.embedded_queue else "at scale"},
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


@router.get("/sw.js")
async def service_worker() -> FileResponse:
    """The Web Push service worker, from the root so its scope is the whole site."""
    return FileResponse(
        STATIC_DIR / "js" / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/favicon.ico")
async def favicon() -> RedirectResponse:
    """Browsers ask for this path on their own; send them to the SVG icon."""
    return RedirectResponse("/static/favicon.svg", status_code=301)
