"""Who may call the clients feature's endpoints: typed dependencies naming a permission."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from studioflow.identity.auth import ClientAuthenticator, Principal

ClientReader = Annotated[Principal, Depends(ClientAuthenticator("clients:read"))]
ClientUpdater = Annotated[Principal, Depends(ClientAuthenticator("clients:update"))]
MemberReader = Annotated[Principal, Depends(ClientAuthenticator("members:read"))]
MemberManager = Annotated[Principal, Depends(ClientAuthenticator("members:manage"))]
AnyMember = Annotated[Principal, Depends(ClientAuthenticator())]
ActivityReader = Annotated[Principal, Depends(ClientAuthenticator("activity:read"))]
