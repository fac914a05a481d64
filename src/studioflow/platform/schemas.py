"""The base of every request body: unknown fields refused, text a database can store.

PostgreSQL refuses a NUL character in text and no UTF-8 encoder takes a lone surrogate,
which JSON's ``\\u`` escapes can still carry; SQLite stores both. Refusing them here makes a
bad value the same clear 422 on both backends, before any service sees it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator


def storable(value: Any) -> Any:
    """``value`` if every string in it (nested too) can be stored as text; else ValueError."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL (\\u0000) characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            storable(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            storable(item)
    return value


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable(value)
