"""Request and response models of the credits API (API.md, "Credits")."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from studioflow.platform.schemas import Input

# A balance is an Integer column: one grant stays far below what it holds.
MAX_GRANT = 1_000_000_000


class CreditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    delta: int
    reason: str
    reference: str | None
    balance_after: int
    created_at: datetime


class CreditsOut(BaseModel):
    balance: int
    events: list[CreditEventOut]


class GrantIn(Input):
    amount: int = Field(
        ge=-MAX_GRANT,
        le=MAX_GRANT,
        description="Credits to add (negative to take back; never below zero).",
    )
    reason: str = Field(default="admin_grant", min_length=1, max_length=40)
    reference: str | None = Field(default=None, max_length=200)


class CreditRequestIn(Input):
    amount: int = Field(ge=1, le=MAX_GRANT, description="Credits asked for.")
    note: str = Field(default="", max_length=500, description="Why, for the admins.")


class CreditRequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    client_id: str
    amount: int
    note: str
    status: str  # open, granted or declined
    granted: int | None
    answer: str | None
    created_at: datetime
    resolved_at: datetime | None
    client_name: str | None = None  # in the admins' list


class CreditRequestAnswer(Input):
    amount: int | None = Field(
        default=None, ge=1, le=MAX_GRANT, description="Credits to grant (default: as asked)."
    )
    answer: str | None = Field(default=None, max_length=500, description="A word to the owner.")
