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
