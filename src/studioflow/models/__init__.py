"""All tables; importing this package registers every model on ``Base.metadata``."""

from studioflow.models.analytics import ImageDaily, ImageView, UsageDaily
from studioflow.models.base import Base
from studioflow.models.billing import CreditAccount, CreditEvent, Plan
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
from studioflow.models.media import Album, Image, ImageVariant
from studioflow.models.studio import (
    BatchResult,
    ExecutionEvent,
    IdempotencyRecord,
    Workflow,
    WorkflowExecution,
    WorkflowRequest,
    WorkflowTemplate,
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
    "Album",
    "ApiKey",
    "AuditEvent",
    "AuthSession",
    "Base",
    "BatchResult",
    "Client",
    "CreditAccount",
    "CreditEvent",
    "ExecutionEvent",
    "IdempotencyRecord",
    "Image",
    "ImageDaily",
    "ImageVariant",
    "ImageView",
    "Invitation",
    "Membership",
    "OAuthIdentity",
    "OneTimeCode",
    "Permission",
    "Plan",
    "PlatformRole",
    "RefreshToken",
    "Role",
    "RolePermission",
    "UsageDaily",
    "User",
    "Workflow",
    "WorkflowExecution",
    "WorkflowRequest",
    "WorkflowTemplate",
]
