"""Appointment booking (issue 16): business profiles, staff and hours, services,
availability and appointments that can never double-book."""
