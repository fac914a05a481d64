"""All tables; importing this package registers every model on ``Base.metadata``."""

from studioflow.models.base import Base
from studioflow.models.client import (
    ApiKey,
    AuditEvent,
    Client,
    Invitation,
    Membership,
    Permission,
    Role,
    RolePermission,
)
from studioflow.models.user import (
    ActionToken,
    AuthSession,
    OAuthIdentity,
    OneTimeCode,
    PlatformRole,
    RefreshToken,
    User,
)

__all__ = [
    "ActionToken",
    "ApiKey",
    "AuditEvent",
    "AuthSession",
    "Base",
    "Client",
    "Invitation",
    "Membership",
    "OAuthIdentity",
    "OneTimeCode",
    "Permission",
    "PlatformRole",
    "RefreshToken",
    "Role",
    "RolePermission",
    "User",
]
