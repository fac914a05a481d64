"""Inline SVG charts for the admin dashboard (no script and no CDN, so nothing for the CSP
to block and nothing to download): bars for counts and money, a line for a rate. Each
returns the coordinates a template macro (partials/charts.html) draws, with a y axis from 0
to a round top, a few dates under it and a title per point for screen readers and hover."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

LEFT, BOTTOM_PAD, TOP_PAD, HEIGHT, WIDTH = 44, 18, 10, 110, 640


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten at or above ``value``: a round top
    for the y axis."""
    if value <= 0:
        return 1
    step = 10.0 ** math.floor(math.log10(value))
    for factor in (1, 2, 5):
        if step * factor >= value:
            return step * factor
    return step * 10


@dataclass
class Chart:
    title: str
    kind: str  # "bars" or "line"
    width: int = WIDTH
    height: int = HEIGHT + TOP_PAD + BOTTOM_PAD
    left: int = LEFT
    base: int = HEIGHT + TOP_PAD
    right: int = WIDTH - 4
    bars: list[dict[str, Any]] = field(default_factory=list)
    points: str = ""
    dots: list[dict[str, Any]] = field(default_factory=list)
    ticks: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    empty: bool = True


def _frame(chart: Chart, days: Sequence[str], top: float, fmt: str) -> float:
    step = (chart.right - chart.left) / max(len(days), 1)
    chart.ticks = [
        {"y": chart.base - round(v / top * HEIGHT), "text": fmt.format(v)}
        for v in (0, top / 2, top)
    ]
    picks = sorted({0, len(days) // 2, len(days) - 1}) if days else []
    chart.labels = [{"x": round(chart.left + (i + 0.5) * step), "text": days[i][5:]} for i in picks]
    return step


def bars(
    title: str, points: Sequence[tuple[str, float]], *, fmt: str = "{:g}", unit: str = ""
) -> Chart:
    """One bar per day; ``points`` are (ISO date, value)."""
    chart = Chart(title=title, kind="bars")
    days = [day for day, _ in points]
    top = nice_ceiling(max([v for _, v in points] + [0]))
    step = _frame(chart, days, top, fmt)
    width = max(1.0, step * 0.7)
    for i, (day, value) in enumerate(points):
        if value <= 0:
            continue
        chart.empty = False
        height = max(1, round(value / top * HEIGHT))
        chart.bars.append(
            {
                "x": round(chart.left + i * step + (step - width) / 2, 1),
                "y": chart.base - height,
                "width": round(width, 1),
                "height": height,
                "title": f"{day}: {fmt.format(value)}{unit}",
            }
        )
    return chart


def line(title: str, points: Sequence[tuple[str, float | None]], *, unit: str = "%") -> Chart:
    """A line over the days that have a value (0 to 100); days without one are skipped."""
    chart = Chart(title=title, kind="line")
    days = [day for day, _ in points]
    step = _frame(chart, days, 100, "{:g}")
    coordinates = []
    for i, (day, value) in enumerate(points):
        if value is None:
            continue
        chart.empty = False
        x = round(chart.left + (i + 0.5) * step, 1)
        y = chart.base - round(value / 100 * HEIGHT, 1)
        coordinates.append(f"{x},{y}")
        chart.dots.append({"x": x, "y": y, "title": f"{day}: {value:.1f}{unit}"})
    chart.points = " ".join(coordinates)
    return chart
