"""The nightly backup task: thin over ``smartpay.backups`` (STYLE.md)."""

from __future__ import annotations

from celery import shared_task
from django.template.defaultfilters import filesizeformat

from smartpay.backups import create_backup, prune_backups
from smartpay.periodic import run_periodic

# A dump of a large database plus its upload; the lock lasts as long, so a second
# beat tick can never start a backup while one is still running.
BACKUP_TIME_LIMIT = 2 * 3600


@shared_task(
    name="smartpay.backup", time_limit=BACKUP_TIME_LIMIT, soft_time_limit=BACKUP_TIME_LIMIT - 60
)
def back_up() -> str | None:
    """Beat, nightly. Returns a summary ("stored <name> (<size>), pruned N"), or None
    when another run holds the lock. The run is recorded under the beat entry's name."""
    return run_periodic("smartpay-backup", _backup_and_prune, time_limit=BACKUP_TIME_LIMIT)


def _backup_and_prune() -> str:
    info = create_backup()
    deleted = prune_backups()
    return f"stored {info.name} ({filesizeformat(info.size)}), pruned {len(deleted)}"
