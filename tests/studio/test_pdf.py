"""PDF export: results with prompts on A4 or Letter, watermarked at 0 credits."""

from __future__ import annotations

import re
import zlib

from studioflow.studio import pdf
from tests.factories import create_account
from tests.studio.conftest import Studio


def page_streams(document: bytes) -> list[bytes]:
    """The decompressed content streams of a PDF (fpdf2 writes FlateDecode streams)."""
    found = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", document, re.S):
        try:
            found.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return found


def pages(document: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", document))


async def test_export_an_execution_watermarked_at_zero_credits(studio: Studio) -> None:
    execution_id = await studio.execute(["a harbour at dawn", "a snowy owl", "日本の庭"])
    await studio.wait(execution_id)
    assert await studio.balance() == 0
    response = await studio.client.post(
        "/api/v1/pdf/export",
        json={"execution_id": execution_id, "paper": "Letter", "title": "Harbour set"},
        headers=studio.headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-watermarked"] == "true"
    document = response.content
    assert document.startswith(b"%PDF-") and pages(document) == 1
    assert b"/MediaBox [0 0 612.00 792.00]" in document  # Letter
    assert document.count(b"/Subtype /Image") == 3
    await studio.grant(1)
    clean = await studio.client.post(
        "/api/v1/pdf/export",
        json={"execution_id": execution_id, "paper": "A4", "title": "Harbour set"},
        headers=studio.headers,
    )
    assert clean.headers["x-watermarked"] == "false"
    assert b"/MediaBox [0 0 595.28 841.89]" in clean.content  # A4


async def test_export_jobs_and_refuse_foreign_ones(studio: Studio) -> None:
    jobs = []
    for prompt in ("one", "two"):
        created = await studio.client.post(
            "/api/v1/jobs", json={"prompt": prompt}, headers=studio.headers
        )
        jobs.append(created.json()["id"])
    for job in jobs:
        await studio.wait(job)
    response = await studio.client.post(
        "/api/v1/pdf/export", json={"job_ids": jobs}, headers=studio.headers
    )
    assert response.status_code == 200 and response.content.count(b"/Subtype /Image") == 2
    other = await create_account(studio.client, studio.platform, "pdf-other@example.com")
    foreign = await studio.client.post(
        "/api/v1/pdf/export", json={"job_ids": jobs}, headers=other.headers
    )
    assert foreign.status_code == 404
    neither = await studio.client.post("/api/v1/pdf/export", json={}, headers=studio.headers)
    assert neither.status_code == 422


def test_watermark_and_pagination_in_the_document() -> None:
    items = [
        pdf.PdfItem(index=n, prompt=f"prompt {n}", status="failed", image=None)
        for n in range(1, 10)
    ]
    plain = pdf.render(items, title="T", paper="A4", watermark=False)
    marked = pdf.render(items, title="T", paper="A4", watermark=True)
    assert pages(plain) == pages(marked) == 3  # four results a page
    rotated = rb"0\.7071 0\.7071 -0\.7071 0\.7071 (-?[\d.]+ ){2}cm"  # 45 degrees
    assert sum(bool(re.search(rotated, s)) for s in page_streams(marked)) == 3
    assert not any(re.search(rotated, s) for s in page_streams(plain))
