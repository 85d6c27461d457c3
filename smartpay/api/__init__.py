"""API plumbing shared by every app: error format, pagination, idempotency."""
