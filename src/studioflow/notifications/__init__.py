"""Notifications (seed 003): in-app, email, SMS, push; preferences and outboxes."""
