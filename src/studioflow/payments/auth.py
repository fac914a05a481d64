"""Who may call the payments endpoints: typed dependencies naming a permission."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from studioflow.identity.auth import Authenticator, Principal

# A wallet and one's own payments belong to the person, not to a workspace: signed in as
# them (a session or a bearer token), never through a workspace's API key.
Payer = Annotated[Principal, Depends(Authenticator(allow_api_key=False))]
CreditBuyer = Annotated[Principal, Depends(Authenticator("billing:manage"))]
