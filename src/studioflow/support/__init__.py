"""Support tickets (seed 000): workspaces ask, platform admins answer."""
