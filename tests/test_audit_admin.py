"""The audit log in the ops console: staff who passed MFA read it, filter and search it,
see before/after as JSON; nobody (superusers included) adds, changes or deletes an entry.
Admin buttons and hand edits land in the log as the staff member who used them."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from escrow.models import EscrowHold
from escrow.services import holds
from marketplace.models import Job, User
from marketplace.services import jobs
from smartpay import audit
from smartpay.models import AuditEntry
from smartpay.request_context import acting_from
from tests.escrow.money import card_contract, first_milestone, fund
from tests.factories import PASSWORD, make_job, verified_user
from tests.totp import signed_in_with_mfa

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:smartpay_auditentry_changelist"


def logged_in_with_mfa(user: User) -> Client:
    return signed_in_with_mfa(
        user, Client(REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="OpsBrowser/2")
    )


@pytest.fixture
def superuser() -> User:
    return verified_user(is_staff=True, is_superuser=True)


@pytest.fixture
def console(superuser: User) -> Client:
    return logged_in_with_mfa(superuser)


def entry_url(entry: AuditEntry, view: str = "change") -> str:
    return reverse(f"admin:smartpay_auditentry_{view}", args=[entry.pk])


def some_entries() -> tuple[AuditEntry, AuditEntry, AuditEntry]:
    """A job published by its client in a request, a task's entry, a command's entry."""
    job = make_job(verified_user(is_client=True), status=Job.Status.DRAFT, published_at=None)
    with acting_from("203.0.113.9", request_id="req-abc123", user_agent="Firefox"):
        jobs.publish_job(actor=job.client, job_id=job.pk)
    published = AuditEntry.objects.get(action="job.published")
    with acting_from("task:escrow.settle"):
        from_task = audit.record(None, "release.available", job, after={"status": "available"})
    with acting_from("command:reconcile"):
        from_command = audit.record(None, "reconciliation.drift_found", None)
    return published, from_task, from_command


def listed(client: Client, **query: str) -> set[int]:
    response = client.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    return {entry.pk for entry in response.context["cl"].result_list}


def test_the_list_shows_time_actor_action_target_and_source(console):
    published, _, _ = some_entries()
    page = console.get(reverse(CHANGELIST)).content.decode()
    assert published.actor_label in page
    assert "job.published" in page
    assert f"marketplace.job #{published.target_id}" in page
    assert "203.0.113.9" in page
    assert "command:reconcile" in page


def test_filters_by_object_area_and_source_kind(console):
    published, from_task, from_command = some_entries()
    assert listed(console, object="job") == {published.pk}
    assert listed(console, object="release") == {from_task.pk}
    assert listed(console, area="marketplace") == {published.pk, from_task.pk}
    assert listed(console, source_kind="address") == {published.pk}
    assert listed(console, source_kind="task") == {from_task.pk}
    assert listed(console, source_kind="command") == {from_command.pk}


def test_search_finds_by_actor_target_id_and_request_id(console):
    published, _, _ = some_entries()
    email = published.actor_label
    assert published.pk in listed(console, q=email.split("@")[0])
    assert published.pk in listed(console, q=published.target_id)
    assert listed(console, q="req-abc123") == {published.pk}
    assert listed(console, q="nobody-like-this") == set()


def test_an_entry_shows_before_and_after_as_json_and_offers_no_save(console):
    published, _, _ = some_entries()
    response = console.get(entry_url(published))
    assert response.status_code == 200
    page = response.content.decode()
    assert '<pre class="audit-json">' in page
    before = json.dumps(published.before, indent=2, sort_keys=True)
    assert before.replace('"', "&quot;") in page
    assert "req-abc123" in page
    assert 'name="_save"' not in page
    assert "Delete" not in page.split('id="content-main"')[1]


def test_nobody_adds_changes_or_deletes_an_entry_not_even_a_superuser(console):
    published, _, _ = some_entries()
    snapshot = (published.note, published.action)
    assert console.get(reverse("admin:smartpay_auditentry_add")).status_code == 403
    changed = console.post(entry_url(published), {"action": "job.forged", "note": "x"})
    assert changed.status_code == 403
    assert console.get(entry_url(published, "delete")).status_code == 403
    assert console.post(entry_url(published, "delete"), {"post": "yes"}).status_code == 403
    bulk = console.post(
        reverse(CHANGELIST), {"action": "delete_selected", "_selected_action": [published.pk]}
    )
    assert bulk.status_code in (200, 302)
    published.refresh_from_db()
    assert (published.note, published.action) == snapshot


def test_staff_with_view_permission_read_the_log_and_others_do_not():
    entry = audit.record(None, "test.visible")
    reader = verified_user(is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_auditentry"))
    reading = logged_in_with_mfa(reader)
    assert reading.get(reverse(CHANGELIST)).status_code == 200
    assert reading.get(entry_url(entry)).status_code == 200
    assert reading.get(reverse("admin:smartpay_auditentry_add")).status_code == 403
    other = logged_in_with_mfa(verified_user(is_staff=True))
    assert other.get(reverse(CHANGELIST)).status_code == 403


def test_staff_without_the_second_factor_are_sent_away(client, superuser):
    audit.record(None, "test.hidden")
    client.post("/accounts/login/", {"login": superuser.email, "password": PASSWORD})
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302
    assert "test.hidden" not in client.get(reverse(CHANGELIST), follow=True).content.decode()


# --- what admin buttons and hand edits leave in the log ------------------------------------


def test_an_admin_action_is_recorded_as_the_staff_member_with_the_request(console, superuser):
    milestone = fund(first_milestone(card_contract((100_000,))))
    funding = milestone.funding_items.get().funding
    [hold] = holds.freeze_for_chargeback(
        payment_intent_id=funding.payment_intent_id or "", dispute_id="dp_1", reason="fraud"
    )
    mark = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = console.post(
        reverse("admin:escrow_escrowhold_changelist"),
        {"action": "lift", "_selected_action": [hold.pk]},
        HTTP_X_REQUEST_ID="ops-lift-1",
    )
    assert response.status_code == 302
    [entry] = AuditEntry.objects.filter(pk__gt=mark)
    assert entry.action == "hold.lifted"
    assert entry.actor == superuser
    assert entry.target_type == "escrow.escrowhold"
    assert entry.target_id == str(hold.pk)
    assert entry.before is not None
    assert entry.after is not None
    assert entry.before["lifted_at"] is None
    assert entry.after["lifted_by"] == superuser.pk
    assert (entry.source, entry.user_agent, entry.request_id) == (
        "198.51.100.4",
        "OpsBrowser/2",
        "ops-lift-1",
    )
    assert EscrowHold.objects.get(pk=hold.pk).lifted_by == superuser


def test_a_hand_edit_of_a_job_is_recorded_and_its_status_is_not_editable(console, superuser):
    job = make_job(verified_user(is_client=True), title="Old title")
    change = reverse("admin:marketplace_job_change", args=[job.pk])
    form = console.get(change).context["adminform"].form
    assert "status" not in form.fields
    data = {
        name: form.initial.get(name) for name in form.fields if form.initial.get(name) is not None
    }
    data.update(
        title="New title",
        skills=[],
        client=job.client_id,
        category=job.category_id,
        **{
            f"{prefix}-{key}": value
            for prefix in ("invites", "proposals")
            for key, value in {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0}.items()
        },
    )
    response = console.post(change, data)
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    job.refresh_from_db()
    assert job.title == "New title"
    assert job.status == Job.Status.OPEN
    entry = AuditEntry.objects.get(action="job.edited_in_admin")
    assert entry.actor == superuser
    assert entry.target_id == str(job.pk)
    assert entry.before == {"title": "Old title"}
    assert entry.after == {"title": "New title"}
