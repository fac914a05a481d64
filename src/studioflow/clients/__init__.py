"""Tenants (clients), members and roles, invitations, the activity timeline."""
