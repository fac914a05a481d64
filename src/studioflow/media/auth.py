"""Who may call the media feature's endpoints: typed dependencies naming a permission."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from studioflow.identity.auth import Authenticator, Principal

ImagesRead = Annotated[Principal, Depends(Authenticator("images:read"))]
ImagesWrite = Annotated[Principal, Depends(Authenticator("images:write"))]
