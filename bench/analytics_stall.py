"""The serving loop while the analytics job writes views (issue 13: "the analytics flush never
blocks the serving loop for more than a few milliseconds").

Embedded, the job runs in the server's own event loop: `media.analytics.flush` drains the
in-memory buffer into SQLite. A ticker on the same loop measures the longest gap between
its 1-ms ticks while 20,000 recorded views are written, against the same ticker with
nothing to flush.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from studioflow.media import analytics
from studioflow.models import Client, Image
from studioflow.platform.migrations import upgrade
from studioflow.platform.runtime import build_platform
from studioflow.seeds import seed_reference_data
from studioflow.settings import Settings

VIEWS = 20_000


async def _worst_gap(work: Any) -> tuple[float, float]:
    """(longest gap between 1-ms ticks in ms, seconds the work took)."""
    worst = 0.0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst = max(worst, now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    await work()
    took = time.perf_counter() - started
    done.set()
    await ticker
    return worst * 1000, took


async def flush_stall() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), secret_key="a" * 40)
        platform = build_platform(settings)
        try:
            await upgrade(platform.db.engine)
            async with platform.db.transaction() as session:
                await seed_reference_data(session)
                client = Client(name="bench", plan="free")
                session.add(client)
                await session.flush()
                images = []
                for n in range(20):
                    image = Image(
                        client_id=client.id,
                        filename=f"{n}.jpg",
                        content_hash=f"{n:064d}",
                        format="jpeg",
                        mime_type="image/jpeg",
                        bytes=1,
                        public_bytes=1,
                        width=1,
                        height=1,
                        dominant_color="#000000",
                        original_key=f"o/{n}",
                        public_key=f"p/{n}",
                    )
                    session.add(image)
                    images.append(image)
                await session.flush()
            for n in range(VIEWS):
                await platform.views.record(
                    analytics.make_event(
                        secret=settings.secret,
                        image_id=images[n % 20].id,
                        client_id=client.id,
                        variant="p",
                        referrer="https://blog.example/x",
                        user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
                        country="FR",
                        ip=f"198.51.100.{n % 250}",
                        sent=1000,
                    )
                )
            idle, _ = await _worst_gap(lambda: asyncio.sleep(1.0))
            written: list[int] = []

            async def work() -> None:
                written.append(await analytics.flush(platform))

            busy, took = await _worst_gap(work)
        finally:
            await platform.close()
    assert written == [VIEWS], written
    return {
        "views": VIEWS,
        "flush_seconds": round(took, 2),
        "worst_gap_ms_flushing": round(busy, 1),
        "worst_gap_ms_idle": round(idle, 1),
    }


async def run() -> dict[str, Any]:
    return {"flush_stall": await flush_stall()}


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(run())))
