"""Run every benchmark: `python -m bench [name ...]`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bench import (
    admin_bench,
    analytics_stall,
    booking_bench,
    delivery_bench,
    load_bench,
    media_bench,
    platform_bench,
    shop_bench,
    studio_bench,
)

SUITES = {
    "platform": platform_bench.run,
    "media": media_bench.run,
    "studio": studio_bench.run,
    "load": load_bench.run,
    "delivery": delivery_bench.run,
    "analytics": analytics_stall.run,
    "admin": admin_bench.run,
    "booking": booking_bench.run,
    "shop": shop_bench.run,
}


def main() -> None:
    wanted = sys.argv[1:] or list(SUITES)
    results: dict[str, object] = {}
    for name in wanted:
        print(f"== {name}")
        results[name] = asyncio.run(SUITES[name]())
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(f"results written to {out / 'latest.json'}")


main()
