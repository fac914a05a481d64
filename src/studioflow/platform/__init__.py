"""Infrastructure that knows no domain.

Database, errors, security, storage, jobs, events, rate limits, mail and observability.
"""
