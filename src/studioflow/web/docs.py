"""The API reference at /docs: the vendored Swagger UI, no CDN (the site may be offline)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from studioflow.web.templating import templates

router = APIRouter(include_in_schema=False)

# Swagger UI sets inline styles from its scripts; everything else stays as strict as the site.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)


@router.get("/docs", response_class=HTMLResponse)
async def api_docs(request: Request) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, "docs.html", {"openapi_url": request.app.openapi_url}
    )
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response
