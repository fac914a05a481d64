"""`studioflow` with two benchmark providers registered: ``instant`` (answers at once with a
tiny distinct PNG) and ``counting`` (the same, rate limited, appending the time of each call to
STUDIOFLOW_BENCH_CALLS_FILE). ``python -m bench.studio_worker`` runs `studioflow worker`;
``python -m bench.studio_worker serve --port N`` the embedded server with its worker."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import time

from PIL import Image

from studioflow.studio.providers import EXTRA, Generated, GenerationRequest


def tiny_png(prompt: str) -> bytes:
    colour = tuple(hashlib.sha256(prompt.encode()).digest()[:3])
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, "PNG")
    return out.getvalue()


class Instant:
    name = "instant"
    limit_key = "instant"
    rate_limited = False
    aspect_ratios = frozenset({"1:1"})

    async def generate(self, request: GenerationRequest) -> Generated:
        return Generated(data=tiny_png(request.prompt), mime_type="image/png")

    async def close(self) -> None:
        return None


class Counting(Instant):
    name = "counting"
    limit_key = "counting-shared-key"
    rate_limited = True

    def __init__(self, path: str) -> None:
        self.path = path

    async def generate(self, request: GenerationRequest) -> Generated:
        # O_APPEND writes of one short line are atomic across processes.
        with open(self.path, "a", encoding="ascii") as log:  # noqa: ASYNC230 - tiny append
            log.write(f"{time.time():.6f}\n")
        return await super().generate(request)


def register() -> None:
    EXTRA["instant"] = lambda settings, key: Instant()
    EXTRA["counting"] = lambda settings, key: Counting(
        os.environ.get("STUDIOFLOW_BENCH_CALLS_FILE", "/tmp/studioflow-bench-calls.log")
    )


def main() -> None:
    register()
    from studioflow.cli import app

    sys.argv = ["studioflow", *(sys.argv[1:] or ["worker"])]
    app()


if __name__ == "__main__":
    main()
