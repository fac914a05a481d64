"""The base of every request body: unknown fields refused, text a database can store.

PostgreSQL refuses a NUL character in text and no UTF-8 encoder takes a lone surrogate,
which JSON's ``\\u`` escapes can still carry; SQLite stores both. Refusing them here makes a
bad value the same clear 422 on both backends, before any service sees it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# The times the API accepts: wide enough for any real date, narrow enough that converting
# an offset to UTC or adding a lifetime can never leave what Python and the databases hold
# (``9999-12-31T23:59:59-23:59`` overflowed into a 500).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _moment(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time needs a UTC offset (Z or +hh:mm)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError("times must lie between 1970 and the year 9000")
    return utc


# An aware time in range, given back in UTC: for bodies and query parameters alike.
Moment = Annotated[datetime, AfterValidator(_moment)]


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


class Money(BaseModel):
    """An amount in a currency's minor units (cents), as every price and balance is."""

    amount: int = Field(ge=0, le=2**63 - 1, description="In minor units (cents).")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
