"""How the command-line clients tell a refusal: the server's own words (``detail``) and its
stable ``code``, never the HTTP library's message."""

from __future__ import annotations

import httpx


class ServerRefused(Exception):
    """The server answered with an error; ``str()`` is its detail and code."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(describe(response))
        self.status_code = response.status_code


def describe(response: httpx.Response) -> str:
    """``detail (code)`` of a problem+json answer, or the status when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    detail = body.get("detail") or body.get("title") or f"HTTP {response.status_code}"
    return f"{detail} ({body.get('code', response.status_code)})"
