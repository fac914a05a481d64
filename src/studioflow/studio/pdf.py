"""PDF export of results (fpdf2): a title, then each result with its prompt, two per row.

Seed 001's rule: an account with 0 credits gets a watermark on every page. Images are
downscaled to print size before embedding, so a 500-result PDF stays a few MB and renders in
seconds. Prompts may hold any script: a Unicode TrueType font is used when the system has
DejaVu (Debian: fonts-dejavu-core); otherwise text outside Latin-1 is replaced, not lost
silently — the ZIP manifest keeps the exact prompts.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fpdf import FPDF
from PIL import Image as PILImage

from studioflow.studio.fonts import unicode_font

if TYPE_CHECKING:
    from studioflow.identity.auth import Principal
    from studioflow.platform.runtime import Platform

MAX_ITEMS = 500

PRINT_PIXELS = 900  # ~ 85 mm at 270 dpi
WATERMARK = "Studioflow - free tier (0 credits)"


@dataclass(frozen=True)
class PdfItem:
    index: int
    prompt: str
    status: str
    image: bytes | None  # a print copy (see print_copy)


def _font(pdf: FPDF) -> tuple[str, bool]:
    path = unicode_font()
    if path is not None:
        pdf.add_font("body", "", str(path))
        return "body", True
    return "helvetica", False


def _text(value: str, unicode_font: bool) -> str:
    return value if unicode_font else value.encode("latin-1", "replace").decode("latin-1")


def print_copy(data: bytes) -> bytes:
    """A print-sized JPEG of a result (blocking): what the PDF embeds, and all it keeps."""
    with PILImage.open(io.BytesIO(data)) as image:
        image.thumbnail((PRINT_PIXELS, PRINT_PIXELS))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=82)
    return out.getvalue()


def render(items: list[PdfItem], *, title: str, paper: str, watermark: bool) -> bytes:
    """Blocking (Pillow and fpdf2): run it in a worker thread."""
    pdf = FPDF(format=paper, unit="mm")
    pdf.set_auto_page_break(auto=False)
    font, unicode_font = _font(pdf)
    margin = 15.0
    column = (pdf.w - 2 * margin - 10) / 2
    row_height = (pdf.h - 2 * margin - 20) / 2

    def new_page() -> None:
        pdf.add_page()
        if watermark:
            pdf.set_font(font, size=34)
            pdf.set_text_color(215, 215, 215)
            with pdf.rotation(45, x=pdf.w / 2, y=pdf.h / 2):
                width = pdf.get_string_width(WATERMARK)
                pdf.text(pdf.w / 2 - width / 2, pdf.h / 2, WATERMARK)
            pdf.set_text_color(0, 0, 0)

    new_page()
    pdf.set_font(font, size=18)
    pdf.set_xy(margin, margin)
    pdf.cell(0, 10, _text(title, unicode_font))
    pdf.set_font(font, size=9)
    pdf.set_xy(margin, margin + 10)
    done = sum(1 for item in items if item.status == "completed")
    pdf.cell(
        0,
        6,
        f"{done} of {len(items)} results - exported {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    )
    top = margin + 20
    for position, item in enumerate(items):
        slot = position % 4
        if position and slot == 0:
            new_page()
            top = margin
        x = margin + (slot % 2) * (column + 10)
        y = top + (slot // 2) * row_height
        image_size = min(column, row_height - 22)
        if item.image is not None:
            pdf.image(
                io.BytesIO(item.image), x=x, y=y, w=image_size, h=image_size, keep_aspect_ratio=True
            )
        else:
            pdf.set_draw_color(200, 200, 200)
            pdf.rect(x, y, image_size, image_size)
            pdf.set_xy(x, y + image_size / 2 - 3)
            pdf.set_font(font, size=10)
            pdf.cell(image_size, 6, item.status, align="C")
        pdf.set_font(font, size=8)
        pdf.set_xy(x, y + image_size + 2)
        prompt = item.prompt if len(item.prompt) <= 300 else item.prompt[:297] + "..."
        pdf.multi_cell(column, 4, _text(f"{item.index}. {prompt}", unicode_font), max_line_height=4)
    return bytes(pdf.output())


async def export(
    platform: Platform,
    session: Any,
    principal: Principal,
    execution_ids: list[uuid.UUID],
    *,
    jobs: bool,
    paper: str,
    title: str,
) -> tuple[bytes, bool]:
    """The PDF of some executions' results (404 for another client's), and whether it was
    watermarked."""
    from studioflow.billing import credits
    from studioflow.platform.errors import Unprocessable
    from studioflow.studio import executions, streaming

    entries: list[streaming.ZipEntry] = []
    for execution_id in execution_ids:
        await executions.get_execution(session, principal, execution_id)
        entries.extend(await streaming.zip_entries(session, execution_id))
    if len(entries) > MAX_ITEMS:
        raise Unprocessable(
            f"At most {MAX_ITEMS} results per PDF; this has {len(entries)}.",
            code="too_many_results",
        )
    items = []
    for number, entry in enumerate(entries, start=1):
        image = None
        if entry.key is not None and entry.name is not None:
            image = await asyncio.to_thread(print_copy, await platform.storage.read(entry.key))
        items.append(
            PdfItem(
                index=number if jobs else entry.index,
                prompt=entry.prompt,
                status=entry.status,
                image=image,
            )
        )
    watermark = await credits.balance(platform.db, session, principal.client_id) == 0
    document = await asyncio.to_thread(render, items, title=title, paper=paper, watermark=watermark)
    return document, watermark
