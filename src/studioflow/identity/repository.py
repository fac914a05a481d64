"""Queries of identity: accounts, codes, sessions and single-use links, API keys, the
member's access in a client, and the memberships an account's life (deletion, export) needs
(see platform/repository.py).

One departure: :class:`UsageRepository` reads the studio's and billing's tables for the
profile figures (``/api/v1/user/profile``), because identity sits below both in the import
order and cannot call their services (CONTRIBUTING.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, func, select, update
from sqlalchemy.orm import aliased

from studioflow.identity.emails import canonical_email
from studioflow.models import (
    ActionToken,
    ApiKey,
    AuditEvent,
    AuthSession,
    BatchResult,
    Client,
    CreditAccount,
    Membership,
    OAuthIdentity,
    OneTimeCode,
    Permission,
    Plan,
    RefreshToken,
    Role,
    RolePermission,
    User,
    WorkflowExecution,
)
from studioflow.models.base import table_of
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScoped, Repository, Scope


def _access_statement(*, personal: bool) -> Any:
    """The member's client, role, permissions (with those of ``p_extra_role``, for platform
    admins) and the client's hourly API limit: one query, built once, as it runs on every
    authenticated request."""
    m, c, plan, role = table_of(Membership), table_of(Client), table_of(Plan), table_of(Role)
    grant, permission = table_of(RolePermission), table_of(Permission)
    joined = (
        m.join(c, c.c.id == m.c.client_id)
        .outerjoin(plan, plan.c.name == c.c.plan)
        .outerjoin(role, role.c.name.in_([m.c.role, bindparam("p_extra_role")]))
        .outerjoin(grant, grant.c.role_id == role.c.id)
        .outerjoin(permission, permission.c.id == grant.c.permission_id)
    )
    which = (
        c.c.personal_owner_id == bindparam("p_user")
        if personal
        else m.c.client_id == bindparam("p_client")
    )
    return (
        select(m.c.client_id, m.c.role, plan.c.api_requests_per_hour, permission.c.name)
        .select_from(joined)
        .where(m.c.user_id == bindparam("p_user"), which)
    )


_ACCESS_IN = _access_statement(personal=False)
_PERSONAL_ACCESS = _access_statement(personal=True)


class CatalogueRepository(Repository[Role]):
    """The roles, permissions and grants seeded from ``identity/permissions.py``."""

    model = Role

    async def permissions(self) -> list[Permission]:
        return list((await self.session.scalars(select(Permission))).all())

    async def roles(self) -> list[Role]:
        return list((await self.session.scalars(select(Role))).all())

    async def grants(self) -> list[RolePermission]:
        return list((await self.session.scalars(select(RolePermission))).all())


class MemberRepository(Repository[Membership]):
    model = Membership

    async def role_permissions(self, role: str) -> frozenset[str]:
        rows = await self.session.scalars(
            select(Permission.name)
            .join(RolePermission, RolePermission.permission_id == Permission.id)
            .join(Role, Role.id == RolePermission.role_id)
            .where(Role.name == role)
        )
        return frozenset(rows.all())

    async def access_rows(
        self, user_id: uuid.UUID, client_id: uuid.UUID | None, extra_role: str
    ) -> list[Any]:
        """(client_id, role, api_requests_per_hour, permission) rows of the member's access
        in ``client_id`` (None: their personal client); none when not a member."""
        params = {"p_user": user_id, "p_client": client_id, "p_extra_role": extra_role}
        statement = _PERSONAL_ACCESS if client_id is None else _ACCESS_IN
        return list((await self.session.execute(statement, params)).all())

    async def pairs(self, user_ids: list[uuid.UUID]) -> set[tuple[uuid.UUID, uuid.UUID]]:
        """(user_id, client_id) of every membership of these users."""
        if not user_ids:
            return set()
        rows = await self.session.execute(
            select(Membership.user_id, Membership.client_id).where(Membership.user_id.in_(user_ids))
        )
        return {(user_id, client_id) for user_id, client_id in rows}

    async def of(self, user_id: uuid.UUID, client_id: uuid.UUID) -> Membership | None:
        return await self.one_or_none(
            select(Membership).where(
                Membership.user_id == user_id, Membership.client_id == client_id
            )
        )

    async def clients_of(self, user_id: uuid.UUID) -> list[tuple[Client, str]]:
        """The user's clients and role in each, the personal one first, then by name."""
        rows = await self.session.execute(
            select(Client, Membership.role)
            .join(Membership, Membership.client_id == Client.id)
            .where(Membership.user_id == user_id)
            .order_by(Client.personal_owner_id.is_(None), Client.name)
        )
        return [(client, role) for client, role in rows]

    async def teams_owned_alone_with_others(self, user_id: uuid.UUID, owner: str) -> bool:
        """Whether the user is the only owner of a team client that has other members."""
        shared_owned = await self.session.scalars(
            select(Membership.client_id)
            .join(Client, Client.id == Membership.client_id)
            .where(
                Membership.user_id == user_id,
                Membership.role == owner,
                Client.personal_owner_id.is_(None),
            )
        )
        for client_id in shared_owned.all():
            owners = await self.session.scalar(
                select(func.count())
                .select_from(Membership)
                .where(Membership.client_id == client_id, Membership.role == owner)
            )
            others = await self.session.scalar(
                select(func.count())
                .select_from(Membership)
                .where(Membership.client_id == client_id, Membership.user_id != user_id)
            )
            if owners == 1 and others:
                return True
        return False

    async def teams_alone_in(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        """Team clients the user is the only member of (they would be orphans)."""
        others = aliased(Membership)
        alone = await self.session.scalars(
            select(Membership.client_id)
            .join(Client, Client.id == Membership.client_id)
            .where(Membership.user_id == user_id, Client.personal_owner_id.is_(None))
            .where(
                select(func.count())
                .select_from(others)
                .where(others.client_id == Client.id)
                .scalar_subquery()
                == 1
            )
        )
        return list(alone.all())

    async def with_clients(self, user_id: uuid.UUID) -> list[tuple[Membership, Client]]:
        rows = await self.session.execute(
            select(Membership, Client)
            .join(Client, Client.id == Membership.client_id)
            .where(Membership.user_id == user_id)
        )
        return [(m, c) for m, c in rows]


class ApiKeyRepository(ClientScoped[ApiKey]):
    model = ApiKey

    async def count_uses(self, key_id: uuid.UUID, count: int, last: datetime) -> None:
        """Add buffered uses to a key; ``last_used_at`` only moves forward."""
        await self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(
                requests_count=ApiKey.requests_count + count,
                last_used_at=case(
                    (ApiKey.last_used_at.is_(None), last),
                    (ApiKey.last_used_at < last, last),
                    else_=ApiKey.last_used_at,
                ),
            )
        )

    async def with_user(self, key_hash: str) -> tuple[ApiKey, User] | None:
        """The key with that hash and its creator, whatever client (authentication)."""
        row = (
            await self.session.execute(
                select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.key_hash == key_hash)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def of_user(self, user_id: uuid.UUID) -> list[ApiKey]:
        """Every key a user made, in every client, newest first (a platform admin's view)."""
        return await self.all(
            select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc())
        )

    def _visible(self, scope: Scope, *, everyone: bool) -> Any:
        statement = self.readable(scope)
        return statement if everyone else statement.where(ApiKey.user_id == scope.user_id)

    async def listed(self, scope: Scope, *, everyone: bool) -> list[ApiKey]:
        """The client's keys (everyone's for owners, else the caller's), newest first."""
        return await self.all(
            self._visible(scope, everyone=everyone).order_by(ApiKey.created_at.desc())
        )

    async def page(
        self, scope: Scope, params: PageParams, *, everyone: bool
    ) -> tuple[list[ApiKey], str | None]:
        rows, cursor = await self.page_by(
            self._visible(scope, everyone=everyone),
            [ApiKey.created_at, ApiKey.id],
            params,
            key=lambda row: (row[0].created_at, row[0].id),
            descending=True,
        )
        return [row[0] for row in rows], cursor


class UsageRepository(Repository[WorkflowExecution]):
    model = WorkflowExecution

    async def figures(
        self, client_id: uuid.UUID, since: datetime | None = None
    ) -> tuple[dict[Any, int], dict[Any, int], int]:
        """Executions by status, items by status (of executions created ``since``, when
        given), and the credit balance of a client."""
        executions = [WorkflowExecution.client_id == client_id]
        items_of = [BatchResult.client_id == client_id]
        if since is not None:
            executions.append(WorkflowExecution.created_at >= since)
            items_of.append(
                BatchResult.execution_id.in_(select(WorkflowExecution.id).where(*executions))
            )
        by_status = dict(
            (
                await self.session.execute(
                    select(WorkflowExecution.status, func.count())
                    .where(*executions)
                    .group_by(WorkflowExecution.status)
                )
            ).all()
        )
        items = dict(
            (
                await self.session.execute(
                    select(BatchResult.status, func.count())
                    .where(*items_of)
                    .group_by(BatchResult.status)
                )
            ).all()
        )
        balance = await self.session.scalar(
            select(CreditAccount.balance).where(CreditAccount.client_id == client_id)
        )
        return by_status, items, int(balance or 0)


class UserRepository(Repository[User]):
    """Accounts, looked up the ways sign-in and sign-up name them."""

    model = User

    async def any(self) -> bool:
        return await self.session.scalar(select(User.id).limit(1)) is not None

    async def by_email(self, email: str) -> User | None:
        return await self.one_or_none(
            select(User).where(User.email_canonical == canonical_email(email))
        )

    async def by_username(self, username: str) -> User | None:
        return await self.one_or_none(
            select(User).where(func.lower(User.username) == username.lower())
        )

    async def username_taken(self, username: str, *, other_than: uuid.UUID | None = None) -> bool:
        statement = select(User.id).where(func.lower(User.username) == username.lower())
        if other_than is not None:
            statement = statement.where(User.id != other_than)
        return await self.session.scalar(statement) is not None

    async def fresh(self, user_id: uuid.UUID) -> User | None:
        """The row as it is now in this unit of work (principals carry a snapshot)."""
        return await self.session.get(User, user_id, populate_existing=True)

    async def by_identity(self, provider: str, subject: str) -> OAuthIdentity | None:
        found: OAuthIdentity | None = await self.session.scalar(
            select(OAuthIdentity).where(
                OAuthIdentity.provider == provider, OAuthIdentity.subject == subject
            )
        )
        return found

    async def by_id(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def personal_client_id(self, user_id: uuid.UUID) -> uuid.UUID | None:
        found: uuid.UUID | None = await self.session.scalar(
            select(Client.id).where(Client.personal_owner_id == user_id)
        )
        return found

    async def identities(self, user_id: uuid.UUID) -> list[OAuthIdentity]:
        return list(
            (
                await self.session.scalars(
                    select(OAuthIdentity).where(OAuthIdentity.user_id == user_id)
                )
            ).all()
        )


class CodeRepository(Repository[OneTimeCode]):
    """One-time codes (email verification), each carrying the registration it confirms."""

    model = OneTimeCode

    async def newest_unused(self, user_id: uuid.UUID, purpose: str) -> OneTimeCode | None:
        """The newest code not used (expired or not): the registration a resend is for."""
        return await self.one_or_none(
            select(OneTimeCode)
            .where(
                OneTimeCode.user_id == user_id,
                OneTimeCode.purpose == purpose,
                OneTimeCode.used_at.is_(None),
            )
            .order_by(OneTimeCode.created_at.desc())
            .limit(1)
        )

    async def live(self, user_id: uuid.UUID, purpose: str, now: datetime) -> list[OneTimeCode]:
        """Every unused, unexpired code, newest first, locked for the check (``FOR UPDATE``
        on PostgreSQL): several registrations of one address each have their own."""
        return await self.all(
            select(OneTimeCode)
            .where(
                OneTimeCode.user_id == user_id,
                OneTimeCode.purpose == purpose,
                OneTimeCode.used_at.is_(None),
                OneTimeCode.expires_at > now,
            )
            .order_by(OneTimeCode.created_at.desc())
            .with_for_update()
        )


# Built once: every request with a Bearer token or cookies reads it.
_SESSION_AND_USER = (
    select(AuthSession, User)
    .join(User, User.id == AuthSession.user_id)
    .where(AuthSession.id == bindparam("p_session"), AuthSession.user_id == bindparam("p_user"))
)


class SessionRepository(Repository[AuthSession]):
    """Sign-in sessions and their refresh tokens (a user's own; no client involved)."""

    model = AuthSession

    async def with_user(
        self, session_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[AuthSession, User] | None:
        """An access token's session and user (authentication's hot path)."""
        row = (
            await self.session.execute(
                _SESSION_AND_USER, {"p_session": session_id, "p_user": user_id}
            )
        ).first()
        return None if row is None else (row[0], row[1])

    def _active(self, user_id: uuid.UUID, now: datetime) -> Any:
        return select(AuthSession).where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )

    async def by_refresh_token(
        self, token_hash: str
    ) -> tuple[RefreshToken, AuthSession, User] | None:
        row = (
            await self.session.execute(
                select(RefreshToken, AuthSession, User)
                .join(AuthSession, AuthSession.id == RefreshToken.session_id)
                .join(User, User.id == AuthSession.user_id)
                .where(RefreshToken.token_hash == token_hash)
            )
        ).first()
        return None if row is None else (row[0], row[1], row[2])

    async def owned(self, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(AuthSession.id).where(
                AuthSession.id == session_id, AuthSession.user_id == user_id
            )
        )
        return found is not None

    async def revoke(self, session_id: uuid.UUID, *, reason: str, now: datetime) -> None:
        await self.session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )

    async def revoke_all(self, user_id: uuid.UUID, *, reason: str, now: datetime) -> None:
        await self.session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )

    async def active(self, user_id: uuid.UUID, now: datetime) -> list[AuthSession]:
        return await self.all(self._active(user_id, now).order_by(AuthSession.last_used_at.desc()))

    async def page_active(
        self, user_id: uuid.UUID, params: PageParams, now: datetime
    ) -> tuple[list[AuthSession], str | None]:
        rows, cursor = await self.page_by(
            self._active(user_id, now),
            [AuthSession.last_used_at, AuthSession.id],
            params,
            key=lambda row: (row[0].last_used_at, row[0].id),
            descending=True,
        )
        return [row[0] for row in rows], cursor

    async def revoke_api_keys_of(self, user_id: uuid.UUID, now: datetime) -> None:
        """Every key the user made, in every client: a password reset ends them all."""
        await self.session.execute(
            update(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
        )


class ActionTokenRepository(Repository[ActionToken]):
    """Single-use links (magic sign-in, password reset)."""

    model = ActionToken

    async def with_user(self, token_hash: str, purpose: str) -> tuple[ActionToken, User] | None:
        row = (
            await self.session.execute(
                select(ActionToken, User)
                .join(User, User.id == ActionToken.user_id)
                .where(ActionToken.token_hash == token_hash, ActionToken.purpose == purpose)
                .with_for_update()
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def peek(self, token_hash: str, purpose: str) -> tuple[ActionToken, User] | None:
        """The token and its user, without a lock: for a page that only shows whose it is."""
        row = (
            await self.session.execute(
                select(ActionToken, User)
                .join(User, User.id == ActionToken.user_id)
                .where(ActionToken.token_hash == token_hash, ActionToken.purpose == purpose)
            )
        ).first()
        return None if row is None else (row[0], row[1])

    async def revoke_all(
        self, user_id: uuid.UUID, purposes: tuple[str, ...], now: datetime
    ) -> None:
        """Spend every unused link of these purposes (a password reset ends the others)."""
        await self.session.execute(
            update(ActionToken)
            .where(
                ActionToken.user_id == user_id,
                ActionToken.purpose.in_(purposes),
                ActionToken.used_at.is_(None),
            )
            .values(used_at=now)
        )

    async def spend(self, token_id: uuid.UUID, now: datetime) -> bool:
        """Mark it used if nobody did: of two racing uses of one link, exactly one wins."""
        result = await self.session.execute(
            update(ActionToken)
            .where(ActionToken.id == token_id, ActionToken.used_at.is_(None))
            .values(used_at=now)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


class LifecycleRepository(Repository[User]):
    """What an account's export and deletion read and remove (a user's own rows)."""

    model = User

    async def personal_client(self, user_id: uuid.UUID) -> Client | None:
        found: Client | None = await self.session.scalar(
            select(Client).where(Client.personal_owner_id == user_id)
        )
        return found

    async def sessions_of(self, user_id: uuid.UUID) -> list[AuthSession]:
        return list(
            await self.session.scalars(select(AuthSession).where(AuthSession.user_id == user_id))
        )

    async def keys_of(self, user_id: uuid.UUID) -> list[ApiKey]:
        return list(await self.session.scalars(select(ApiKey).where(ApiKey.user_id == user_id)))

    async def doings_of(self, user_id: uuid.UUID) -> list[AuditEvent]:
        return list(
            await self.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.actor_user_id == user_id)
                .order_by(AuditEvent.created_at)
            )
        )

    async def locked(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id, with_for_update=True)

    async def user(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def pseudonymise(self, user_id: uuid.UUID, label: str) -> None:
        """The audit log keeps the rows of a deleted user, under a pseudonym, without IPs."""
        await self.session.execute(
            update(AuditEvent)
            .where(AuditEvent.actor_user_id == user_id)
            .values(actor_label=label, ip=None, user_agent=None)
        )

    async def delete_clients(self, client_ids: list[uuid.UUID]) -> None:
        await self.session.execute(delete(Client).where(Client.id.in_(client_ids)))

    async def due_for_deletion(self, now: datetime, *, limit: int) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(User.id)
            .where(User.delete_after.is_not(None), User.delete_after <= now)
            .limit(limit)
        )
        return list(rows.all())
