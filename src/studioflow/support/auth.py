"""Who may call the support endpoints: typed dependencies naming a permission."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from studioflow.identity.auth import Authenticator, Principal

SupportReader = Annotated[Principal, Depends(Authenticator("support:read"))]
SupportWriter = Annotated[Principal, Depends(Authenticator("support:write"))]
