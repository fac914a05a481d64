"""All tables; importing this package registers every model on ``Base.metadata``."""

from studioflow.models.base import Base
from studioflow.models.user import PlatformRole, User

__all__ = ["Base", "PlatformRole", "User"]
