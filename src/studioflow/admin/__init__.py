"""Platform administration (platform admins only)."""
