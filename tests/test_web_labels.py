"""Page helpers: the views chart over a fixed window, plurals, device and scope labels."""

from __future__ import annotations

from datetime import date

from studioflow.web.labels import device_label, plural, scope_summary
from studioflow.web.media_pages import bar_chart

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def test_one_day_of_views_is_one_narrow_bar_with_axes() -> None:
    chart = bar_chart([{"day": "2026-12-02", "views": 3}], today=date(2026, 12, 2))
    assert len(chart["bars"]) == 30  # the whole window, missing days as zero
    assert [b["views"] for b in chart["bars"]][-1] == 3 and chart["total"] == 3
    assert sum(1 for b in chart["bars"] if b["height"]) == 1
    assert chart["top"] == 5 and [t["value"] for t in chart["ticks"]] == [0, 2, 5]
    assert [label["text"] for label in chart["labels"]] == ["11-03", "11-18", "12-02"]
    empty = bar_chart([], today=date(2026, 12, 2))
    assert empty["total"] == 0 and empty["top"] == 1


def test_labels_read_like_sentences() -> None:
    assert plural(1, "view") == "1 view" and plural(0, "image") == "0 images"
    assert device_label(CHROME_LINUX) == "Chrome on Linux"
    assert device_label(None) == "Unknown device" and device_label("curl/8.0") == "curl"
    assert scope_summary(["images:write", "images:read", "billing:read"]) == (
        "billing: read · images: read, write"
    )
