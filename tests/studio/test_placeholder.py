"""The offline placeholder provider."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from studioflow.studio.providers.placeholder import ASPECT_RATIOS, generate


def test_placeholder_images_are_deterministic_and_labelled() -> None:
    first = generate("a lighthouse at dawn", "16:9")
    assert first == generate("a lighthouse at dawn", "16:9")
    assert first != generate("a lighthouse at dusk", "16:9")
    with Image.open(io.BytesIO(first)) as image:
        assert image.size == ASPECT_RATIOS["16:9"]
    with pytest.raises(ValueError):
        generate("x", "5:4")


def test_the_label_has_a_glyph_for_every_character_in_any_font() -> None:
    """The em dash of the label was a box in Pillow's default font: what a font lacks is
    replaced, and the Unicode font (DejaVu, when the system has it) draws it as it is."""
    from PIL import ImageFont

    from studioflow.studio.fonts import unicode_font
    from studioflow.studio.providers.placeholder import drawable

    ascii_only = ImageFont.load_default(24)
    assert drawable("PLACEHOLDER — no AI", ascii_only) == "PLACEHOLDER - no AI"
    assert drawable("a café 漢", ascii_only) == "a caf? ?"
    path = unicode_font()
    if path is not None:
        dejavu = ImageFont.truetype(str(path), 24)
        assert drawable("PLACEHOLDER — café", dejavu) == "PLACEHOLDER — café"
    assert generate("a café — at night", "1:1")  # draws with whichever font there is
