"""The client's address: X-Forwarded-For is believed only from configured proxies."""

from __future__ import annotations

import functools
import ipaddress

from starlette.requests import Request


def client_ip(request: Request, trusted_proxies: list[str]) -> str:
    peer = request.client.host if request.client else "unknown"
    if not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    # Walk from the nearest hop back; the first address that is not a trusted proxy is the
    # client. Anything further left was written by the client and proves nothing.
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            return hop if _valid(hop) else peer
    return hops[0] if hops and _valid(hops[0]) else peer


def peer_in(request: Request, networks: list[str]) -> bool:
    """Whether the connecting address itself (not a forwarded one) is in ``networks``."""
    return request.client is not None and _trusted(request.client.host, networks)


def _valid(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _trusted(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _parsed(tuple(networks)))


@functools.lru_cache(maxsize=32)
def _parsed(
    networks: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    # Settings hold a few networks; parsing them on every request was a measurable part of
    # a cached thumbnail's time.
    return tuple(ipaddress.ip_network(network, strict=False) for network in networks)
