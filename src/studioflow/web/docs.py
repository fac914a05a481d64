"""The API reference at /docs, a page of our own built from the OpenAPI document (in the
site's design, keyboard- and phone-friendly, nothing third-party); the vendored Swagger UI
stays at /docs/try for trying requests out. No CDN: the site may be offline."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from studioflow.web.templating import render, templates

router = APIRouter(include_in_schema=False)

# Swagger UI sets inline styles from its scripts; everything else stays as strict as the site.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)
METHODS = ("get", "post", "put", "patch", "delete", "head")


def _type_of(schema: dict[str, Any]) -> str:
    """A short name for a schema: its model, its type, or what it is made of."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type_of(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_type_of(schema.get('items', {}))}"
    kind = str(schema.get("type", "any"))
    return f"{kind} ({schema['format']})" if "format" in schema else kind


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def reference(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations of ``spec`` grouped by tag, in the document's order, ready to show."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {})
            groups.setdefault((operation.get("tags") or ["other"])[0], []).append(
                {
                    "anchor": _slug(f"{method} {path}"),
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": (operation.get("description") or "").strip(),
                    "parameters": [
                        {
                            "name": p["name"],
                            "where": p["in"],
                            "required": p.get("required", False),
                            "type": _type_of(p.get("schema", {})),
                        }
                        for p in operation.get("parameters", [])
                    ],
                    "body": [
                        (kind, _type_of(content.get("schema", {})))
                        for kind, content in body.items()
                    ],
                    "responses": [
                        (code, answer.get("description", ""))
                        for code, answer in operation.get("responses", {}).items()
                    ],
                }
            )
    return [
        {"name": name, "anchor": _slug(name), "operations": operations}
        for name, operations in groups.items()
    ]


@router.get("/docs", response_class=HTMLResponse)
async def api_docs(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    return render(
        request,
        "docs_reference.html",
        {"info": spec.get("info", {}), "groups": reference(spec)},
    )


@router.get("/docs/try", response_class=HTMLResponse)
async def try_api(request: Request) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, "docs.html", {"openapi_url": request.app.openapi_url}
    )
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response
