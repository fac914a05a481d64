"""Where a request comes from, for the audit log and the per-address limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from studioflow.platform.client_ip import client_ip


@dataclass(frozen=True)
class Context:
    """The client's address (``X-Forwarded-For`` believed only from trusted proxies) and
    user agent."""

    ip: str
    user_agent: str | None = None


def context_of(request: Request) -> Context:
    settings = request.app.state.platform.settings
    return Context(
        ip=client_ip(request, settings.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
    )


# An endpoint's typed dependency: ``context: RequestContext``.
RequestContext = Annotated[Context, Depends(context_of)]
