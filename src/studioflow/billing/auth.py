"""Who may call the billing feature's endpoints: typed dependencies naming a permission."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from studioflow.identity.auth import Authenticator, Principal

BillingReader = Annotated[Principal, Depends(Authenticator("billing:read"))]
BillingManager = Annotated[Principal, Depends(Authenticator("billing:manage"))]
