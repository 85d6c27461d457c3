"""Platform tasks: thin wrappers over services (STYLE.md)."""

from celery import shared_task

from smartpay import cleanup, tasks_backups  # noqa: F401 - tasks_backups registers smartpay.backup
from smartpay.periodic import describe_counts, run_periodic

CLEANUP_TIME_LIMIT = 600


@shared_task(name="smartpay.ping")
def ping(value: str = "pong") -> str:
    """Round trip through broker and worker; the readiness of the task pipeline."""
    return value


@shared_task(
    name="smartpay.cleanup", time_limit=CLEANUP_TIME_LIMIT, soft_time_limit=CLEANUP_TIME_LIMIT - 30
)
def clean_up() -> dict[str, int] | None:
    """Beat, daily. Returns how many rows of each kind were removed, or None when
    another run holds the lock."""
    return run_periodic(
        "smartpay-cleanup",
        cleanup.remove_expired,
        time_limit=CLEANUP_TIME_LIMIT,
        describe=describe_counts,
    )
