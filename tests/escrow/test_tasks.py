"""Escrow's periodic tasks: one run at a time under overlap, registered with Celery,
scheduled in django-celery-beat."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from escrow import tasks
from escrow.models import ReconciliationReport, Release
from escrow.services import payouts, reconciliation, refunds, release, webhooks
from marketplace.models import Milestone
from smartpay.celery import app as celery_app
from smartpay.models import PeriodicRun
from smartpay.periodic import single_run
from tests.escrow.money import card_contract, first_milestone, fund, submit

WAIT = 10  # seconds; a generous bound for a thread to reach a point


def blocking(
    calls: list[str], entered: threading.Event, gate: threading.Event, returns: Any = 1
) -> Callable:
    """A stand-in for a service that records its call and waits at the gate."""

    def run(**_: Any) -> Any:
        calls.append(threading.current_thread().name)
        entered.set()
        assert gate.wait(WAIT)
        return returns

    return run


def run_twice_at_once(
    task: Callable[[], Any], entered: threading.Event, gate: threading.Event
) -> tuple[Any, Any]:
    """Start ``task`` in a thread and, while that run is inside its service, start it
    again in another; returns both results (first, second)."""
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.update(first=task()), name="first")
    second = threading.Thread(target=lambda: results.update(second=task()), name="second")
    first.start()
    assert entered.wait(WAIT), "the first run never reached the service"
    second.start()
    second.join(WAIT)  # the second run must not wait for the first
    assert not second.is_alive()
    gate.set()
    first.join(WAIT)
    return results["first"], results["second"]


@pytest.fixture
def quiet_settlement(monkeypatch) -> None:
    """Every settlement step does nothing (the lock tests watch one of them)."""
    for module, name in [
        (release, "auto_release_due"),
        (release, "send_review_reminders"),
        (release, "make_releases_available"),
        (refunds, "accept_lapsed_refund_requests"),
        (refunds, "retry_due_refunds"),
        (payouts, "retry_due_payouts"),
        (webhooks, "retry_failed_events"),
    ]:
        monkeypatch.setattr(module, name, lambda **_: 0)


# Threads write the run records: they need committed rows, not the test's transaction.
@pytest.mark.django_db(transaction=True)
def test_two_overlapping_settlement_runs_act_once(monkeypatch, quiet_settlement):
    calls: list[str] = []
    entered, gate = threading.Event(), threading.Event()
    monkeypatch.setattr(release, "auto_release_due", blocking(calls, entered, gate))
    first, second = run_twice_at_once(tasks.settle, entered, gate)
    assert calls == ["first"]
    assert first["auto-release"] == 1
    assert second is None  # found the lock taken and did nothing
    record = PeriodicRun.objects.get(name="escrow-settle")
    assert (record.runs, record.skipped_overlaps, record.failures) == (1, 1, 0)
    assert record.last_summary == "auto-release 1"
    assert tasks.settle() is not None  # the lock was let go when the first run ended


# Threads write the run records: they need committed rows, not the test's transaction.
@pytest.mark.django_db(transaction=True)
def test_two_overlapping_reconciliations_write_one_report(monkeypatch):
    calls: list[str] = []
    entered, gate = threading.Event(), threading.Event()
    report = ReconciliationReport(pk=7, ok=True)
    monkeypatch.setattr(reconciliation, "reconcile", blocking(calls, entered, gate, report))
    first, second = run_twice_at_once(tasks.reconcile, entered, gate)
    assert calls == ["first"]
    assert (first, second) == (7, None)


# Threads write the run records: they need committed rows, not the test's transaction.
@pytest.mark.django_db(transaction=True)
def test_two_overlapping_weekly_payout_runs_act_once(monkeypatch):
    calls: list[str] = []
    entered, gate = threading.Event(), threading.Event()
    monkeypatch.setattr(payouts, "run_auto_payouts", blocking(calls, entered, gate))
    first, second = run_twice_at_once(tasks.run_auto_payouts, entered, gate)
    assert calls == ["first"]
    assert (first, second) == (1, None)


# Threads write the run records: they need committed rows, not the test's transaction.
@pytest.mark.django_db(transaction=True)
def test_a_run_that_fails_lets_go_of_its_lock(monkeypatch):
    def broken(**_: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(payouts, "run_auto_payouts", broken)
    with pytest.raises(RuntimeError):
        tasks.run_auto_payouts()
    record = PeriodicRun.objects.get(name="escrow-auto-payouts")
    assert (record.runs, record.failures, record.last_success_at) == (1, 1, None)
    assert record.last_error == "RuntimeError: boom"
    monkeypatch.setattr(payouts, "run_auto_payouts", lambda **_: 0)
    assert tasks.run_auto_payouts() == 0
    record.refresh_from_db()
    assert record.last_success_at is not None
    assert record.last_summary == "0 payout(s) requested"


def test_a_lock_outliving_its_run_is_not_deleted_by_another_holder():
    with single_run("demo", 60) as first:
        assert first
        with single_run("demo", 60) as second:
            assert not second
        # The refused twin did not release the holder's lock on its way out.
        with single_run("demo", 60) as third:
            assert not third
    with single_run("demo", 60) as again:
        assert again


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_settlement_on_postgres_releases_a_due_milestone_once():
    milestone = submit(fund(first_milestone(card_contract((100_000,)))))
    Milestone.objects.filter(pk=milestone.pk).update(
        review_deadline=timezone.now() - timedelta(minutes=1)
    )
    barrier = threading.Barrier(4)
    results: list[Any] = []

    def run() -> None:
        try:
            barrier.wait(WAIT)
            results.append(tasks.settle())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 3)
    assert len(results) == 4
    acted = [counts for counts in results if counts is not None]
    assert sum(counts["auto-release"] for counts in acted) == 1
    assert Release.objects.filter(milestone=milestone).count() == 1
    report = tasks.reconcile()  # outside any transaction: the REPEATABLE READ snapshot
    assert report is not None
    assert ReconciliationReport.objects.get(pk=report).problems == []


# --- registration and time limits ------------------------------------------------------------


def test_the_periodic_tasks_and_their_helpers_are_registered_with_celery():
    celery_app.loader.import_default_modules()
    registered = set(celery_app.tasks)
    for name in (
        "escrow.settle",
        "escrow.reconcile",
        "escrow.auto_payouts_weekly",
        "escrow.send_payout",
        "escrow.deliver_sandbox_event",
    ):
        assert name in registered, name


@pytest.mark.parametrize("task", [tasks.settle, tasks.reconcile, tasks.run_auto_payouts])
def test_periodic_tasks_have_time_limits_that_end_before_their_lock(task):
    assert task.time_limit
    assert task.soft_time_limit
    assert task.soft_time_limit < task.time_limit
