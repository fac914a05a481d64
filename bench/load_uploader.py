"""Upload 24 MP JPEGs back to back from a process of its own (bench/load_bench.py): the
clients that make the load must not share an event loop or a core's time slices with the
client that measures. `python -m bench.load_uploader URL TOKEN CONCURRENCY`; prints
"ready" once its photo is made, runs until SIGTERM, then prints how many uploads answered
201 and the status of the others."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import httpx

from bench.load_bench import _distinct, _photo_jpeg


async def main(url: str, token: str, concurrency: int) -> None:
    photo = _photo_jpeg()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    counts: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {token}"}
    print("ready", flush=True)
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def uploader(worker: int) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                body = _distinct(photo, worker * 1_000_000 + n)
                response = await client.post(
                    "/api/v1/images", files={"file": ("p.jpg", body)}, headers=headers
                )
                key = str(response.status_code)
                counts[key] = counts.get(key, 0) + 1

        await asyncio.gather(*(uploader(i) for i in range(concurrency)))
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
