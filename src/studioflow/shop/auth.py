"""Who may call the shop's endpoints: typed dependencies naming a permission."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from studioflow.identity.auth import Authenticator, Principal

SellerReader = Annotated[Principal, Depends(Authenticator("shop:read"))]
SellerManager = Annotated[Principal, Depends(Authenticator("shop:manage"))]
# Buying is the person's: a cart and orders are theirs whatever workspace is active.
Buyer = Annotated[Principal, Depends(Authenticator(allow_api_key=False))]
