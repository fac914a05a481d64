"""Batch input: lists, text with comments, CSV with per-row aspect ratios, and the limits."""

from __future__ import annotations

import pytest

from studioflow.studio.prompts import Item, PromptError, parse_items


def test_a_list() -> None:
    assert parse_items([" a cat ", "", "a dog"], None) == [Item("a cat"), Item("a dog")]


def test_text_skips_blanks_and_comments() -> None:
    text = "# campaign: spring\na red kite\n\n   \n# not this\na blue kite\n"
    assert parse_items(None, text) == [Item("a red kite"), Item("a blue kite")]


def test_csv_with_aspect_ratios() -> None:
    text = 'prompt,aspect_ratio\n"a wide, empty beach",16:9\na tall tower,9:16\nno ratio here,\n'
    assert parse_items(None, text) == [
        Item("a wide, empty beach", "16:9"),
        Item("a tall tower", "9:16"),
        Item("no ratio here", None),
    ]


@pytest.mark.parametrize(
    ("prompts", "text", "message"),
    [
        ([], None, "empty"),
        (None, "# only a comment\n\n", "empty"),
        (["x"] * 10_000, None, "at most 500"),
        (["x" * 100_000], None, "at most 4000"),
        (["a"], "b", "not both"),
        (None, None, "neither"),
    ],
)
def test_limits(prompts: list[str] | None, text: str | None, message: str) -> None:
    with pytest.raises(PromptError, match=message):
        parse_items(prompts, text)
