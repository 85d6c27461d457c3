"""How every periodic task runs: once at a time, logged, and on the record.

``run_periodic(name, work, time_limit=...)`` is the one wrapper beat's tasks (and the
management commands that do the same work by hand) go through:

* **One run at a time.** Beat fires settlement every minute and a slow run would
  overlap the next; a second beat process (a deploy overlap, a mis-scaled service)
  fires every task twice. The services are idempotent by key, so money would not move
  twice, but two overlapping runs would still race for the same rows, call the
  provider twice at once and send reminders twice. A lock in the shared cache makes
  the second run a no-op that says so.
* **A log line** with what the run did (the work returns a summary) and how long it took.
* **A record** (``PeriodicRun``): last start, last success, last failure with its
  error, counts. ``/readyz``, ``/metrics`` and the admin read it, so "is beat running,
  and is the worker keeping up" is answered without reading logs.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from smartpay.models import PeriodicRun

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_SUMMARY = 500
IDLE = "nothing to do"


def lock_key(name: str) -> str:
    return f"periodic-lock:{name}"


@contextmanager
def single_run(name: str, timeout: int) -> Iterator[bool]:
    """Yield True to the one caller that holds ``name``'s lock, False to any other.

    ``cache.add`` is atomic on Redis (SET NX) and on the local-memory cache of the
    embedded default's single worker. The lock expires with the task's time
    limit, so a worker killed mid-run cannot block the task for good; the token
    stops a run that outlived its lock from deleting its successor's.
    """
    key = lock_key(name)
    token = uuid.uuid4().hex
    acquired = cache.add(key, token, timeout)
    try:
        yield acquired
    finally:
        if acquired and cache.get(key) == token:
            cache.delete(key)


def run_periodic(
    name: str,
    work: Callable[[], T],
    *,
    time_limit: int,
    describe: Callable[[T], str] = str,
) -> T | None:
    """Run ``work`` under ``name``'s lock and record the outcome. Returns what ``work``
    returned, or None when another run holds the lock. ``describe`` turns the result
    into the summary logged and recorded ("" when the run found nothing to do). A
    failure is recorded, logged and raised again (Celery marks the task failed)."""
    with single_run(name, time_limit) as acquired:
        if not acquired:
            _record(name, skipped=True)
            log.info("%s skipped: another run holds the lock", name)
            return None
        started_at = timezone.now()
        clock = time.perf_counter()
        _record(name, started_at=started_at)
        try:
            result = work()
        except Exception as error:
            duration_ms = int((time.perf_counter() - clock) * 1000)
            _record(name, failed=f"{type(error).__name__}: {error}", duration_ms=duration_ms)
            log.exception("%s failed after %d ms", name, duration_ms)
            raise
        duration_ms = int((time.perf_counter() - clock) * 1000)
        summary = describe(result)
        _record(name, succeeded=summary or IDLE, duration_ms=duration_ms)
        # Chain sync runs every few seconds: only runs that did something reach INFO.
        level = logging.INFO if summary else logging.DEBUG
        log.log(level, "%s done in %d ms: %s", name, duration_ms, summary or IDLE)
        return result


def describe_counts(counts: dict[str, int] | None) -> str:
    """'auto-release 2, payouts 1' for the steps that did something; '' if none did."""
    return ", ".join(f"{name} {count}" for name, count in (counts or {}).items() if count)


def _record(
    name: str,
    *,
    started_at: datetime | None = None,
    succeeded: str | None = None,
    failed: str | None = None,
    skipped: bool = False,
    duration_ms: int | None = None,
) -> None:
    """One UPDATE of the task's row, with counts added in the database so concurrent
    writers never overwrite each other's; the row is created on first use only
    (chain sync records every few seconds: the usual path is that one query)."""
    now = timezone.now()
    changes: dict[str, object] = {}
    if skipped:
        changes["skipped_overlaps"] = F("skipped_overlaps") + 1
    if started_at is not None:
        changes.update(last_started_at=started_at, runs=F("runs") + 1)
    if succeeded is not None:
        changes.update(last_success_at=now, last_summary=succeeded[:MAX_SUMMARY])
    if failed is not None:
        changes.update(last_failure_at=now, last_error=failed[:2000], failures=F("failures") + 1)
    if duration_ms is not None:
        changes.update(last_finished_at=now, last_duration_ms=duration_ms)
    if not PeriodicRun.objects.filter(name=name).update(**changes):
        PeriodicRun.objects.get_or_create(name=name)
        PeriodicRun.objects.filter(name=name).update(**changes)
