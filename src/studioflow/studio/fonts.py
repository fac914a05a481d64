"""The Unicode font text is drawn with (the PDF export, the placeholder's labels): DejaVu
when the system has it (Debian: fonts-dejavu-core), nothing downloaded at run time."""

from __future__ import annotations

from functools import cache
from pathlib import Path

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/Library/Fonts/DejaVuSans.ttf"),
)


@cache
def unicode_font() -> Path | None:
    return next((path for path in FONT_CANDIDATES if path.exists()), None)
