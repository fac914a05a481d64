"""Turning what a user pastes into batch items: a list, text with one prompt per line, or CSV.

Text: blank lines and lines starting with ``#`` are skipped. CSV (recognised by a header row
with a ``prompt`` column): one item per row, with an optional per-row ``aspect_ratio``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

MAX_ITEMS = 500
MAX_PROMPT_CHARS = 4000


class PromptError(ValueError):
    def __init__(self, message: str, code: str = "invalid_prompts") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Item:
    prompt: str
    aspect_ratio: str | None = None


def parse_items(
    prompts: list[str] | None,
    prompts_text: str | None,
    *,
    max_items: int = MAX_ITEMS,
    max_chars: int = MAX_PROMPT_CHARS,
) -> list[Item]:
    if (prompts is None) == (prompts_text is None):
        raise PromptError(
            "Give either prompts (a list) or prompts_text, not both or neither.", "invalid_prompts"
        )
    if prompts is not None:
        items = [Item(p.strip()) for p in prompts if p and p.strip()]
    else:
        items = _from_text(prompts_text or "")
    if not items:
        raise PromptError("The batch is empty: give at least one prompt.", "empty_batch")
    if len(items) > max_items:
        raise PromptError(
            f"The batch has {len(items)} prompts; at most {max_items}.", "too_many_prompts"
        )
    for number, item in enumerate(items, start=1):
        if len(item.prompt) > max_chars:
            raise PromptError(
                f"Prompt {number} has {len(item.prompt)} characters; at most {max_chars}.",
                "prompt_too_long",
            )
    return items


def _from_text(text: str) -> list[Item]:
    first = next((line for line in text.splitlines() if line.strip()), "")
    if "prompt" in [cell.strip().lower() for cell in next(csv.reader([first]), [])]:
        return _from_csv(text)
    return [
        Item(line.strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _from_csv(text: str) -> list[Item]:
    reader = csv.DictReader(io.StringIO(text.lstrip()))
    fields = {name.strip().lower(): name for name in reader.fieldnames or []}
    prompt_field, ratio_field = fields.get("prompt"), fields.get("aspect_ratio")
    items = []
    for row in reader:
        prompt = (row.get(prompt_field or "") or "").strip()
        if not prompt or prompt.startswith("#"):
            continue
        ratio = (row.get(ratio_field or "") or "").strip() if ratio_field else ""
        items.append(Item(prompt, ratio or None))
    return items
