"""The API reference at /docs, a page of our own built from the OpenAPI document (in the
site's design, keyboard- and phone-friendly, nothing third-party): every operation with its
parameters, body fields and answers, and a form to try it from the page (``docs.js`` sends
it with the browser's session or an API key typed into the page). It replaced Swagger UI,
whose page failed the accessibility check. No CDN: the site may be offline."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from studioflow.web.templating import render

router = APIRouter(include_in_schema=False)

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


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The schema a ``$ref`` points at (components only), or the schema itself."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        found = spec.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], {})
        return found if isinstance(found, dict) else {}
    return schema


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as FastAPI writes it (anyOf with null): the X."""
    for option in schema.get("anyOf", []):
        if isinstance(option, dict) and option.get("type") != "null":
            return dict(option)
    return schema


def _sample(schema: dict[str, Any], spec: dict[str, Any], depth: int = 0) -> Any:
    """A value of the schema's shape to start editing from: its example or default, else
    an empty value of its type; objects with their required fields only."""
    schema = _not_null(_resolve(schema, spec))
    if "example" in schema:
        return schema["example"]
    if schema.get("default") is not None:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return {}
        required = schema.get("required", [])
        properties = schema.get("properties", {})
        return {
            name: _sample(properties[name], spec, depth + 1)
            for name in required
            if name in properties
        }
    return {"array": [], "integer": 0, "number": 0, "boolean": False, "string": ""}.get(str(kind))


def _fields(schema: dict[str, Any], spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The top-level fields of a body schema: name, type, required, and whether a file."""
    schema = _resolve(schema, spec)
    required = set(schema.get("required", []))
    fields = []
    for name, field in schema.get("properties", {}).items():
        plain = _not_null(_resolve(field, spec))
        items = plain.get("items", {}) if plain.get("type") == "array" else {}
        binary = plain.get("format") == "binary" or items.get("format") == "binary"
        fields.append(
            {
                "name": name,
                "type": _type_of(field),
                "required": name in required,
                "file": binary or plain.get("contentMediaType") == "application/octet-stream",
                "multiple": bool(items),
                "description": str(field.get("description", "")),
            }
        )
    return fields


def _try_form(operation: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """What the page needs to let a reader send the operation: its path and query
    parameters, and its body as JSON to edit or as form fields (files included)."""
    content = operation.get("requestBody", {}).get("content", {})
    form: dict[str, Any] = {
        "parameters": [
            p for p in operation.get("parameters", []) if p.get("in") in ("path", "query")
        ],
        "json": None,
        "multipart": None,
    }
    if "application/json" in content:
        sample = _sample(content["application/json"].get("schema", {}), spec)
        form["json"] = json.dumps(sample, indent=2)
    elif "multipart/form-data" in content:
        form["multipart"] = _fields(content["multipart/form-data"].get("schema", {}), spec)
    return form


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
                    "fields": [
                        field
                        for content in body.values()
                        for field in _fields(content.get("schema", {}), spec)
                    ][:60],
                    "try": _try_form(operation, spec),
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
