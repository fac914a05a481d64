from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from studioflow.platform.runtime import Platform


@pytest_asyncio.fixture(autouse=True)
async def mail_worker(platform: Platform) -> AsyncIterator[None]:
    """Mail goes through the real queue to the outbox; a worker delivers it."""
    await platform.start_worker(concurrency=4, dequeue_timeout=0.1)
    yield
    await platform.stop_worker()
