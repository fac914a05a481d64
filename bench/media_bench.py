"""Media processing against baselines measured in the same run.

1. Preset render of a 12 MP JPEG: our path (JPEG draft decoding at reduced scale, then
   LANCZOS) against the plain way (full decode, then the same resize).
2. Upload checks (inspect + lossless metadata strip) of a 12 MP JPEG against copying the
   file: the price of never trusting an upload.
3. Memory: 16 concurrent ``?size=large`` requests for a 24 MP image through the app; the
   render pool bounds the peak (RSS growth reported against one render's growth).
4. Pillow against pyvips (libvips from ``pyvips-binary``, the ``bench`` extra) on 24 MP and
   48 MP JPEGs: the ``large`` preset, time and memory, each library in a fresh process.
"""

from __future__ import annotations

import io
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.load_bench import _photo_jpeg
from studioflow.media.inspect import inspect_image
from studioflow.media.strip import public_copy
from studioflow.media.variants import VariantSpec, render


def _photo(width: int, height: int) -> bytes:
    base = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB",
        (
            base,
            base.rotate(90).resize((width, height)),
            base.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        ),
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _plain_render(data: bytes, longest: int) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        image.thumbnail((longest, longest), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        return out.getvalue()


def _timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


MEMORY_SCRIPT = """
import asyncio, json, sys, uuid, io
from pathlib import Path
import httpx
sys.path.insert(0, ".")
from bench.media_bench import _photo
from bench.proc import peak_rss_kb as hwm_kb
from studioflow.app import create_app, served
from studioflow.demo import create_admin
from studioflow.platform.migrations import upgrade
from studioflow.platform.runtime import build_platform
from studioflow.seeds import seed_reference_data
from studioflow.settings import Settings

async def main(root, concurrent):
    settings = Settings(data_dir=Path(root), secret_key="m" * 40, rate_limit_per_ip="100000/minute")
    platform = build_platform(settings)
    await upgrade(platform.db.engine)
    password_hash = await platform.passwords.hash("bench passphrase 1")
    async with platform.db.transaction() as session:
        await seed_reference_data(session)
        await create_admin(session, email="bench@example.com", password_hash=password_hash)
    app = create_app(settings, platform=platform, run_worker=False, configure_logs=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=served(app)), base_url="http://b", timeout=600) as client:
        token = (await client.post("/api/v1/auth/login", json={"identifier": "bench@example.com", "password": "bench passphrase 1"})).json()["access_token"]
        client.cookies.clear()
        ids = []
        for n in range(4):
            r = await client.post("/upload", files={"file": ("p.jpg", _photo(6000, 4000 - n), "image/jpeg")}, headers={"Authorization": "Bearer " + token})
            ids.append(r.json()["image"]["id"])
        baseline = hwm_kb()
        statuses = await asyncio.gather(*(client.get("/i/%s?size=large" % ids[n % 4]) for n in range(concurrent)))
    peak = hwm_kb()
    print(json.dumps({"before_kb": baseline, "peak_kb": peak, "statuses": sorted({s.status_code for s in statuses})}))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def _memory(root: Path, concurrent: int) -> dict[str, object]:
    """Peak RSS of a fresh process rendering ``concurrent`` large presets of 24 MP JPEGs."""
    import json
    import subprocess
    import sys

    folder = root / f"mem{concurrent}"
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(folder), str(concurrent)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "concurrent": concurrent,
        "growth_mb": round((figures["peak_kb"] - figures["before_kb"]) / 1024, 1),
        "peak_mb": round(figures["peak_kb"] / 1024, 1),
        "statuses": figures["statuses"],
    }


LIBRARY_SCRIPT = """
import io, json, statistics, sys, time
from pathlib import Path
from bench.proc import peak_rss_kb as hwm_kb
library, path = sys.argv[1], Path(sys.argv[2])
data = path.read_bytes()
if library == "ours":
    from studioflow.media.variants import VariantSpec, render
    spec = VariantSpec.preset("large", "jpeg")
    def once():
        return render(data, "jpeg", spec)
else:
    import pyvips
    def once():
        image = pyvips.Image.thumbnail_buffer(data, 2048, size="down")
        return image.jpegsave_buffer(Q=85, keep="none")
before = hwm_kb()
samples = []
for _ in range(3):
    started = time.perf_counter()
    out = once()
    samples.append(time.perf_counter() - started)
peak = hwm_kb()
print(json.dumps({"ms": statistics.median(samples) * 1000, "growth_kb": peak - before, "bytes": len(out)}))
"""


def _library(library: str, source: Path) -> dict[str, float]:
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", LIBRARY_SCRIPT, library, str(source)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {"ms": round(figures["ms"], 1), "growth_mb": round(figures["growth_kb"] / 1024, 1)}


def ours_vs_vips(root: Path) -> dict[str, object]:
    """A new `large` of a 12 and a 24 MP photo: our render against pyvips' own thumbnail."""
    try:
        import pyvips  # noqa: F401
    except (ImportError, OSError) as error:
        return {"skipped": f"pyvips is not installed ({error}); pip install -e '.[bench]'"}
    results: dict[str, object] = {}
    for label, (width, height) in {"12mp": (4000, 3000), "24mp": (6000, 4000)}.items():
        source = root / f"{label}.jpg"
        # Photo-like (noise and gradients, JPEG q90): they compress, and decode, like photos.
        source.write_bytes(_photo_jpeg(width, height, quality=90))
        # In turns, five times each: the shared machine's speed moves within seconds.
        runs = [(_library("ours", source), _library("vips", source)) for _ in range(5)]
        # Medians of the five processes each (a process's peak memory moves by ~10 MB).
        ours = {k: statistics.median(r[0][k] for r in runs) for k in ("ms", "growth_mb")}
        vips = {k: statistics.median(r[1][k] for r in runs) for k in ("ms", "growth_mb")}
        results[label] = {
            "ours": ours,
            "vips": vips,
            "time_ratio": round(ours["ms"] / vips["ms"], 2),
            "memory_ratio": round(ours["growth_mb"] / max(vips["growth_mb"], 0.1), 2),
        }
    return results


async def run() -> dict[str, object]:
    results: dict[str, object] = {}
    photo = _photo(4000, 3000)
    spec = VariantSpec.preset("large", "jpeg")
    ours = _timed(lambda: render(photo, "jpeg", spec))
    plain = _timed(lambda: _plain_render(photo, 2048))
    results["render_12mp"] = {
        "ours_ms": round(ours * 1000, 1),
        "plain_ms": round(plain * 1000, 1),
        "speedup": round(plain / ours, 2),
    }
    print(f"render    {results['render_12mp']}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "photo.jpg"
        source.write_bytes(photo)
        checks = _timed(
            lambda: (
                inspect_image(source, "jpeg", max_pixels=50_000_000),
                public_copy(source, "jpeg", orientation=1),
            )
        )
        copy = _timed(lambda: shutil.copyfile(source, root / "copy.jpg"))
        results["upload_checks_12mp"] = {
            "checks_ms": round(checks * 1000, 1),
            "copy_ms": round(copy * 1000, 2),
            "ratio_to_copy": round(checks / copy, 1),
        }
        print(f"checks    {results['upload_checks_12mp']}")
        one, many = _memory(root, 1), _memory(root, 32)
        ratio = round(float(many["peak_mb"]) / float(one["peak_mb"]), 2)  # type: ignore[arg-type]
        results["memory_24mp"] = {"one": one, "thirty_two": many, "peak_ratio": ratio}
        print(f"memory    {results['memory_24mp']}")
        results["ours_vs_vips"] = ours_vs_vips(root)
        print(f"vips      {results['ours_vs_vips']}")
    return results
