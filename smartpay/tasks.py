"""Platform tasks: thin wrappers over services (STYLE.md)."""

from celery import shared_task

from smartpay.api.idempotency import purge_expired_keys


@shared_task(name="smartpay.ping")
def ping(value: str = "pong") -> str:
    """Round trip through broker and worker; the readiness of the task pipeline."""
    return value


@shared_task(name="smartpay.purge_idempotency_keys", time_limit=120, soft_time_limit=90)
def purge_idempotency_keys() -> int:
    return purge_expired_keys()
