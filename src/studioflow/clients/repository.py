"""Queries of clients: the clients a user belongs to, members, invitations, the activity
log (see platform/repository.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update

from studioflow.models import ApiKey, AuditEvent, Client, Invitation, Membership, User
from studioflow.platform.pagination import PageParams
from studioflow.platform.repository import ClientScoped, Repository, Scope


class MembershipRepository(ClientScoped[Membership]):
    model = Membership

    def _clients_of(self, user_id: uuid.UUID):  # type: ignore[no-untyped-def]
        return (
            select(Client, Membership.role)
            .join(Membership, Membership.client_id == Client.id)
            .where(Membership.user_id == user_id)
        )

    async def clients_of(self, user_id: uuid.UUID) -> list[tuple[Client, str]]:
        """The user's clients and role in each, the personal one first, then by name."""
        rows = await self.session.execute(
            self._clients_of(user_id).order_by(Client.personal_owner_id.is_(None), Client.name)
        )
        return [(client, role) for client, role in rows]

    async def page_of_clients(
        self, user_id: uuid.UUID, params: PageParams
    ) -> tuple[list[tuple[Client, str]], str | None]:
        order = [Client.personal_owner_id.is_(None), Client.name, Client.id]
        page, cursor = await self.page_by(
            self._clients_of(user_id),
            order,
            params,
            key=lambda row: (row[0].personal_owner_id is None, row[0].name, row[0].id),
        )
        return [(client, role) for client, role in page], cursor

    async def with_users(self, scope: Scope) -> list[tuple[Membership, User]]:
        rows = await self.session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.client_id == scope.client_id)
            .order_by(Membership.created_at)
        )
        return [(m, u) for m, u in rows]

    async def of_user(
        self, client_id: uuid.UUID, user_id: uuid.UUID, *, lock: bool = False
    ) -> Membership | None:
        statement = self.of_client(client_id).where(Membership.user_id == user_id)
        return await self.one_or_none(statement.with_for_update() if lock else statement)

    async def by_address(self, client_id: uuid.UUID, email_canonical: str) -> Membership | None:
        return await self.one_or_none(
            self.of_client(client_id)
            .join(User, User.id == Membership.user_id)
            .where(User.email_canonical == email_canonical)
        )

    async def count_role(self, client_id: uuid.UUID, role: str) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.client_id == client_id, Membership.role == role)
        )
        return int(count or 0)

    async def revoke_keys_of(self, client_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> None:
        """A member leaving: their API keys in this client stop at once."""
        await self.session.execute(
            update(ApiKey)
            .where(
                ApiKey.client_id == client_id,
                ApiKey.user_id == user_id,
                ApiKey.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )


class ClientRepository(Repository[Client]):
    model = Client

    async def get(self, client_id: uuid.UUID) -> Client | None:
        return await self.session.get(Client, client_id)


class InvitationRepository(ClientScoped[Invitation]):
    model = Invitation

    async def pending(self, scope: Scope, now: datetime) -> list[Invitation]:
        return await self.all(
            self.readable(scope).where(
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > now,
            )
        )

    async def by_token_hash(self, token_hash: str) -> Invitation | None:
        """An invitation by its secret, whichever client's (its link is the proof)."""
        return await self.one_or_none(
            select(Invitation).where(Invitation.token_hash == token_hash).with_for_update()
        )


class ActivityRepository(ClientScoped[AuditEvent]):
    model = AuditEvent

    async def page(self, scope: Scope, params: PageParams) -> tuple[list[AuditEvent], str | None]:
        return await self.newest_first(self.readable(scope), params)
