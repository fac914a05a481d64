"""Who may call the studio feature's endpoints: typed dependencies naming a permission."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from studioflow.identity.auth import Authenticator, Principal

WorkflowReader = Annotated[Principal, Depends(Authenticator("workflows:read"))]
Executor = Annotated[Principal, Depends(Authenticator("workflows:execute"))]
SettingsReader = Annotated[Principal, Depends(Authenticator("settings:read"))]
SettingsUpdater = Annotated[Principal, Depends(Authenticator("settings:update"))]
