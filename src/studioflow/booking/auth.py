"""Who may call the booking endpoints: typed dependencies naming a permission."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from studioflow.identity.auth import Authenticator, Principal

BookingReader = Annotated[Principal, Depends(Authenticator("booking:read"))]
BookingManager = Annotated[Principal, Depends(Authenticator("booking:manage"))]
# Any signed-in user books for themself (a customer needs no role in the business).
Customer = Annotated[Principal, Depends(Authenticator())]
