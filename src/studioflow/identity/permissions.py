"""The catalogue of roles and permissions, seeded into the ``roles``, ``permissions`` and
``role_permissions`` tables from here. Custom roles may be added to the tables by admins;
seeding only adds what is missing and never removes a grant someone made.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from studioflow.identity.repository import CatalogueRepository
from studioflow.models import Permission, Role, RolePermission

PERMISSIONS: dict[str, str] = {
    "clients:read": "See the client and its settings",
    "clients:update": "Rename the client and change its settings",
    "members:read": "See the members of the client",
    "members:manage": "Invite, change the role of and remove members",
    "activity:read": "See the client's security activity",
    "api_keys:manage": "Create and revoke one's own API keys in the client",
    "images:read": "See and download the client's images",
    "images:write": "Upload, edit and delete the client's images",
    "workflows:read": "See workflows and executions",
    "workflows:execute": "Run workflows",
    "billing:read": "See credits, plan and usage",
    "billing:manage": "Change the plan and buy credits",
    "settings:read": "See the client's settings",
    "settings:update": "Change the client's settings and provider keys",
    "support:read": "See the client's support tickets",
    "support:write": "Open support tickets and write in them",
    "booking:read": "See the business's profile, services, staff and appointments",
    "booking:manage": "Change the booking profile, services, staff and their hours",
    "shop:read": "See the seller profile, products, orders and earnings",
    "shop:manage": "Apply to sell, change products and stock, fulfil and refund orders",
    "platform:admin": "Administer the whole platform",
}

OWNER = "owner"
COLLABORATOR = "collaborator"
ADMIN = "admin"

ROLES: dict[str, tuple[str, str, frozenset[str]]] = {
    OWNER: (
        "client",
        "Members, billing and settings, and everything collaborators do",
        frozenset(p for p in PERMISSIONS if p != "platform:admin"),
    ),
    COLLABORATOR: (
        "client",
        "Workflows and images",
        frozenset(
            {
                "clients:read",
                "members:read",
                "api_keys:manage",
                "images:read",
                "images:write",
                "workflows:read",
                "workflows:execute",
                "billing:read",
                "settings:read",
                "support:read",
                "support:write",
                "booking:read",
                "shop:read",
            }
        ),
    ),
    ADMIN: ("platform", "Platform administrator", frozenset({"platform:admin"})),
}

CLIENT_ROLES = frozenset(name for name, (scope, _, _) in ROLES.items() if scope == "client")


async def seed_roles(session: AsyncSession) -> None:
    """Insert the catalogue's missing roles, permissions and grants (idempotent)."""
    catalogue = CatalogueRepository(session)
    existing_permissions = {p.name: p for p in await catalogue.permissions()}
    for name, description in PERMISSIONS.items():
        if name not in existing_permissions:
            permission = Permission(name=name, description=description)
            session.add(permission)
            existing_permissions[name] = permission
    existing_roles = {r.name: r for r in await catalogue.roles()}
    for name, (scope, description, _) in ROLES.items():
        if name not in existing_roles:
            role = Role(name=name, scope=scope, description=description)
            session.add(role)
            existing_roles[name] = role
    await session.flush()
    grants = {(g.role_id, g.permission_id) for g in await catalogue.grants()}
    for name, (_, _, permissions) in ROLES.items():
        role = existing_roles[name]
        for permission_name in permissions:
            key = (role.id, existing_permissions[permission_name].id)
            if key not in grants:
                session.add(RolePermission(role_id=key[0], permission_id=key[1]))
    await session.flush()
