"""Liveness (``/healthz``) and readiness (``/readyz``) for load balancers and ops."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.core.cache import cache, caches
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from smartpay.celery import app as celery_app
from smartpay.schedule import task_health


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def check_cache() -> str:
    probe = f"readyz:{uuid.uuid4().hex}"
    cache.set(probe, "ok", timeout=10)
    ok = cache.get(probe) == "ok"
    cache.delete(probe)
    if not ok:
        raise RuntimeError("cache did not return the value it was given")
    return type(caches["default"]).__name__


def check_broker() -> str:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return str(conn.transport_cls)


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


def run_checks() -> tuple[bool, dict[str, dict[str, object]]]:
    results: dict[str, dict[str, object]] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            backend = check()
            results[name] = {"ok": True, "backend": backend}
        except Exception as exc:  # noqa: BLE001 - a failed check is reported, not raised
            results[name] = {"ok": False, "error": type(exc).__name__}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return all(r["ok"] for r in results.values()), results


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving. Touches nothing else."""
    return JsonResponse({"status": "ok"})


def periodic_status() -> dict[str, object]:
    """Each periodic task's last success and whether it is overdue. Reported, not a
    reason for 503: a stopped worker or beat must not take every web process out of
    the load balancer. Alert on ``overdue`` (or on the /metrics gauge) instead."""
    try:
        health = task_health()
    except Exception as exc:  # noqa: BLE001 - the database check reports the cause
        return {"ok": False, "error": type(exc).__name__}
    overdue = [task.name for task in health if task.overdue]
    return {
        "ok": not overdue,
        "overdue": overdue,
        "tasks": {task.name: task.as_json() for task in health},
    }


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Every dependency answers: 200 when all do, 503 naming the one that doesn't.
    Periodic tasks are listed with their last success, and ``overdue`` when they have
    not succeeded for a few of their intervals."""
    ready, checks = run_checks()
    return JsonResponse(
        {
            "status": "ready" if ready else "unavailable",
            "checks": checks,
            "periodic": periodic_status(),
        },
        status=200 if ready else 503,
    )
