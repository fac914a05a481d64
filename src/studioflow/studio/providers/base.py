"""What every image provider offers the runner, and how its failures are classified.

The runner does not know any provider's wire format: it asks for an image and gets either a
:class:`Generated` or a :class:`ProviderError` whose ``kind`` decides what happens next
(retry after a delay, fail the item, fail the whole execution).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class FailureKind(StrEnum):
    RETRYABLE = "retryable"  # 429 rate limit, 5xx, timeouts: try again later
    QUOTA = "quota_exhausted"  # per-day or billing quota: retrying today is pointless
    SAFETY = "blocked_by_safety"  # the provider refused the prompt or the image
    AUTH = "invalid_provider_key"  # the key is wrong or lacks access: no item can succeed
    INVALID = "invalid_request"  # the provider rejected this request as malformed
    MALFORMED = "malformed_response"  # the answer had no usable image


class ProviderError(Exception):
    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        retry_after: float | None = None,
        request_id: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.request_id = request_id
        self.status = status

    @property
    def retryable(self) -> bool:
        # A malformed answer is worth one more try: the next may be well formed.
        return self.kind in {FailureKind.RETRYABLE, FailureKind.MALFORMED}


@dataclass(frozen=True)
class Reference:
    data: bytes
    mime_type: str


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    model: str
    aspect_ratio: str = "1:1"
    references: list[Reference] = field(default_factory=list)


@dataclass(frozen=True)
class Generated:
    data: bytes
    mime_type: str
    request_id: str | None = None


class ImageProvider(Protocol):
    name: str
    # Which key the shared rate limit counts against (a hash, never the key itself).
    limit_key: str
    # Whether calls go through the shared per-key rate limit (not for offline providers).
    rate_limited: bool
    aspect_ratios: frozenset[str]

    async def generate(self, request: GenerationRequest) -> Generated: ...

    async def close(self) -> None: ...
