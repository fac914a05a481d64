"""Plans, quotas and usage counters, credits."""
