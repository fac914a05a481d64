"""Short readable labels for pages: a session's device ("Chrome on Linux"), an API key's
scopes ("images: read, write · workflows: read")."""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse as parse_ua


@lru_cache(maxsize=1024)
def device_label(user_agent: str | None) -> str:
    """ "Chrome on Linux", "Safari on iOS", or "Unknown device"."""
    if not user_agent:
        return "Unknown device"
    result = parse_ua(user_agent[:512])
    browser = result.user_agent.family if result.user_agent else None
    system = result.os.family if result.os else None
    if browser in (None, "Other") and system in (None, "Other"):
        return "Unknown device"
    if system in (None, "Other"):
        return str(browser)
    if browser in (None, "Other"):
        return f"A browser on {system}"
    return f"{browser} on {system}"


def scope_summary(scopes: list[str] | tuple[str, ...]) -> str:
    """Scopes grouped by what they act on: ``images: read, write · billing: read``."""
    grouped: dict[str, list[str]] = {}
    for scope in sorted(scopes):
        area, _, action = scope.partition(":")
        grouped.setdefault(area.replace("_", " "), []).append(action or "all")
    return " · ".join(f"{area}: {', '.join(actions)}" for area, actions in grouped.items())


def plural(count: int, noun: str) -> str:
    """ "1 view", "2 views", "0 images"; ``noun`` is the singular (English -s plural)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
