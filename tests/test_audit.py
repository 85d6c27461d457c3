"""The audit log: services write one entry per change inside their transaction (none
when they refuse), each entry says where it came from (a request's address, browser and
request id; a task; a command), and the log cannot be edited or deleted."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from escrow.models import Release
from escrow.services import release
from marketplace.models import Job, Milestone, Review
from marketplace.services import jobs
from marketplace.tasks import publish_due_reviews
from smartpay import audit
from smartpay.errors import InvalidTransition, NotAllowed, NotFoundError
from smartpay.models import AuditEntry
from smartpay.request_context import REQUEST_ID_HEADER, acting_from
from tests.escrow.money import card_contract, first_milestone, fund, submit
from tests.factories import make_completed_contract, make_job, verified_user

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def entries_after(mark: int) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(pk__gt=mark).order_by("pk"))


def last_pk() -> int:
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def draft_job() -> Job:
    return make_job(verified_user(is_client=True), status=Job.Status.DRAFT, published_at=None)


# --- services write exactly one entry, with what changed -------------------------------


def test_publishing_a_job_writes_one_entry_with_its_status_before_and_after():
    job = draft_job()
    mark = last_pk()
    jobs.publish_job(actor=job.client, job_id=job.pk)
    [entry] = entries_after(mark)
    assert entry.actor == job.client
    assert entry.actor_label == job.client.email
    assert entry.action == "job.published"
    assert (entry.target_type, entry.target_id, entry.target_repr) == (
        "marketplace.job",
        str(job.pk),
        job.title,
    )
    assert entry.before is not None
    assert entry.after is not None
    assert entry.before["status"] == "draft"
    assert entry.after["status"] == "open"
    assert entry.after["budget"] == 250_000
    assert entry.source == "system"  # called directly: no request, task or command


def test_approving_work_writes_one_entry_with_the_release_split():
    contract = card_contract((100_000, 150_000))  # the second milestone keeps it active
    milestone = submit(fund(first_milestone(contract)))
    mark = last_pk()
    release.approve_milestone(actor=contract.client, milestone_id=milestone.pk)
    [entry] = entries_after(mark)
    assert entry.actor == contract.client
    assert entry.action == "milestone.released"
    assert entry.target_type == "marketplace.milestone"
    assert entry.target_id == str(milestone.pk)
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["status"], entry.before["amount"]) == ("submitted", 100_000)
    assert entry.after["status"] == "released"
    made = Release.objects.get(milestone=milestone)
    assert entry.after["release"] == {
        "status": "pending",
        "milestone": milestone.pk,
        "amount": 100_000,
        "fee": int(made.fee),
        "freelancer_amount": int(made.freelancer_amount),
        "returned_amount": 0,
    }


def test_a_task_that_completes_work_is_recorded_without_an_actor():
    contract = card_contract((100_000, 150_000))
    milestone = submit(fund(first_milestone(contract)))
    Milestone.objects.filter(pk=milestone.pk).update(review_deadline=timezone.now())
    mark = last_pk()
    assert release.auto_release_due() == 1
    [entry] = entries_after(mark)
    assert entry.actor is None
    assert entry.actor_label == "system"
    assert entry.action == "milestone.released"


# --- refusals write nothing -----------------------------------------------------------


def test_a_stranger_publishing_someone_elses_job_writes_no_entry():
    job = draft_job()
    stranger = verified_user(is_client=True)
    mark = last_pk()
    with pytest.raises((NotAllowed, NotFoundError)):
        jobs.publish_job(actor=stranger, job_id=job.pk)
    assert entries_after(mark) == []
    job.refresh_from_db()
    assert job.status == Job.Status.DRAFT


def test_approving_unsubmitted_work_writes_no_entry_and_moves_nothing():
    contract = card_contract((100_000, 150_000))
    milestone = fund(first_milestone(contract))
    mark = last_pk()
    with pytest.raises(InvalidTransition):
        release.approve_milestone(actor=contract.client, milestone_id=milestone.pk)
    assert entries_after(mark) == []
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED
    assert not Release.objects.filter(milestone=milestone).exists()


def test_an_entry_rolls_back_with_the_change_it_describes():
    job = draft_job()
    mark = last_pk()

    def publish_then_fail() -> None:
        with transaction.atomic():
            jobs.publish_job(actor=job.client, job_id=job.pk)
            raise RuntimeError("the caller's transaction fails after the service")

    with pytest.raises(RuntimeError):
        publish_then_fail()
    assert entries_after(mark) == []


# --- where an action came from -----------------------------------------------------------


def api_client_for(user) -> APIClient:
    client = APIClient(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="AuditTest/1.0 (pytest)")
    client.force_authenticate(user)
    return client


def test_an_api_request_records_its_address_browser_and_request_id():
    job = draft_job()
    mark = last_pk()
    response = api_client_for(job.client).post(
        f"/api/v1/jobs/{job.pk}/publish/", HTTP_X_REQUEST_ID="req-4f1c2a:trace.7"
    )
    assert response.status_code == 200
    assert response[REQUEST_ID_HEADER] == "req-4f1c2a:trace.7"
    [entry] = entries_after(mark)
    assert entry.action == "job.published"
    assert entry.actor == job.client
    assert entry.source == "203.0.113.7"
    assert entry.user_agent == "AuditTest/1.0 (pytest)"
    assert entry.request_id == "req-4f1c2a:trace.7"


@pytest.mark.parametrize(
    "sent",
    [None, "has spaces in it", "x" * 65, "line\nbreak", "ünïcode"],
    ids=["missing", "spaces", "too-long", "newline", "non-ascii"],
)
def test_a_missing_or_malformed_request_id_is_replaced_by_a_fresh_one(sent):
    job = draft_job()
    mark = last_pk()
    extra = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    response = api_client_for(job.client).post(f"/api/v1/jobs/{job.pk}/publish/", **extra)
    assert response.status_code == 200
    echoed = response[REQUEST_ID_HEADER]
    assert len(echoed) == 32
    assert int(echoed, 16) >= 0
    assert echoed != sent
    [entry] = entries_after(mark)
    assert entry.request_id == echoed


def test_each_request_gets_its_own_id_even_for_pages_that_change_nothing(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first[REQUEST_ID_HEADER] != second[REQUEST_ID_HEADER]


def test_a_refused_api_request_writes_no_entry():
    job = draft_job()
    stranger = verified_user(is_client=True)
    mark = last_pk()
    response = api_client_for(stranger).post(f"/api/v1/jobs/{job.pk}/publish/")
    assert response.status_code in (403, 404)
    assert REQUEST_ID_HEADER in response
    assert entries_after(mark) == []


def completed_with_blind_review() -> Review:
    contract = make_completed_contract(days_ago=20)
    return Review.objects.create(
        contract=contract, author=contract.client, subject=contract.freelancer, rating=5
    )


def test_a_celery_task_records_its_name_as_the_source():
    review = completed_with_blind_review()
    mark = last_pk()
    result = publish_due_reviews.apply()
    assert result.successful()
    assert result.result == 1
    [entry] = entries_after(mark)
    assert entry.action == "review.published"
    assert entry.target_id == str(review.pk)
    assert entry.actor is None
    assert entry.source == "task:marketplace.publish_due_reviews"
    assert entry.actor_label == "task:marketplace.publish_due_reviews"
    # The task's origin ends with the task.
    assert audit.record(None, "test.after_task").source == "system"


def test_a_command_run_in_process_records_its_name():
    completed_with_blind_review()
    mark = last_pk()
    with acting_from("command:publish_due_reviews"):
        call_command("publish_due_reviews")
    [entry] = entries_after(mark)
    assert entry.action == "review.published"
    assert entry.source == "command:publish_due_reviews"


def test_manage_py_records_the_command_that_ran(tmp_path):
    """The real ``manage.py``, in its own process and database: seed_demo goes through
    the services, and every entry it writes names the command."""
    database = tmp_path / "commands.sqlite3"
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "smartpay.settings",
    }
    for command in (["migrate", "-v0"], ["seed_demo"]):
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT source, action FROM smartpay_auditentry").fetchall()
    assert rows
    assert {source for source, _ in rows} == {"command:seed_demo"}
    assert {"job.created", "proposal.submitted", "contract.accepted"} <= {a for _, a in rows}


# --- the log cannot be changed ----------------------------------------------------------


def test_saving_or_deleting_a_stored_entry_raises():
    entry = audit.record(None, "test.written", note="first")
    entry.note = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    entry.refresh_from_db()
    assert entry.note == "first"


@pytest.mark.postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE smartpay_auditentry SET note = 'rewritten' WHERE id = %s",
        "DELETE FROM smartpay_auditentry WHERE id = %s",
    ],
    ids=["update", "delete"],
)
def test_postgres_refuses_raw_sql_that_changes_an_entry(statement):
    entry = audit.record(None, "test.written", note="first")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [entry.pk])
    entry.refresh_from_db()
    assert entry.note == "first"


@pytest.mark.postgres
def test_postgres_refuses_bulk_updates_and_deletes_that_skip_the_model():
    entry = audit.record(None, "test.written", note="first")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(note="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).note == "first"


def test_snapshot_keeps_large_amounts_exact_and_foreign_keys_by_id():
    contract = card_contract((100_000,))
    milestone = first_milestone(contract)
    milestone.amount = 10**30  # wei-sized: more than a JSON reader holds exactly
    values = audit.snapshot(milestone, ["contract", "amount", "status", "review_deadline"])
    assert values == {
        "contract": contract.pk,
        "amount": str(10**30),
        "status": "draft",
        "review_deadline": None,
    }
    later = timezone.now() + timedelta(days=1)
    milestone.review_deadline = later
    assert audit.snapshot(milestone, ["review_deadline"]) == {"review_deadline": later.isoformat()}
