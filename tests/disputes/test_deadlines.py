"""The response window: one reminder, then silence resolves as the opener asked.

Real services on the card rail; time moves through explicit ``now=`` arguments.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core import mail

from disputes import tasks
from disputes.models import Dispute, DisputeEvent
from disputes.services import open_dispute, respond_to_dispute
from disputes.services.deadlines import remind_due_responses, settle_lapsed_disputes
from escrow.models import Refund, Transfer
from marketplace.models import Contract, Milestone, User
from marketplace.money import Rail
from smartpay.celery import app as celery_app
from tests.disputes.helpers import funded_milestone, money
from tests.escrow.test_concurrency import race

DAY = timedelta(days=1)


def opened(opener: str = "client") -> tuple[Contract, Milestone, Dispute]:
    contract, milestone = funded_milestone()
    actor: User = getattr(contract, opener)
    dispute = open_dispute(
        actor=actor, milestone_id=milestone.pk, reason="quality", description="Not as agreed."
    )
    return contract, milestone, dispute


def reminded(dispute: Dispute) -> datetime:
    """Send the reminder a day before the window closes; returns when it lapses."""
    assert remind_due_responses(now=dispute.response_due_at - DAY) == 1
    return dispute.response_due_at + timedelta(minutes=1)


def events(dispute: Dispute, kind: str) -> list[DisputeEvent]:
    return list(DisputeEvent.objects.filter(dispute=dispute, kind=kind))


@pytest.mark.django_db
def test_the_respondent_is_reminded_once_a_day_before_the_window_closes(
    django_capture_on_commit_callbacks, eager_tasks
):
    contract, _milestone, dispute = opened("freelancer")
    assert remind_due_responses(now=dispute.response_due_at - 2 * DAY) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_due_responses(now=dispute.response_due_at - DAY) == 1
    assert remind_due_responses(now=dispute.response_due_at - timedelta(hours=2)) == 0
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [contract.client.email]
    assert "Respond to the dispute" in mail.outbox[0].subject
    assert "released to the freelancer" in mail.outbox[0].body
    dispute.refresh_from_db()
    assert dispute.reminded_at == dispute.response_due_at - DAY
    (event,) = events(dispute, "reminded")
    assert "was reminded to respond" in event.text


@pytest.mark.django_db
def test_silence_pays_a_freelancer_opener_the_whole_milestone():
    contract, milestone, dispute = opened("freelancer")
    lapse = reminded(dispute)
    assert settle_lapsed_disputes(now=lapse - timedelta(minutes=2)) == 0  # still in the window
    transfers = Transfer.objects.count()
    assert settle_lapsed_disputes(now=lapse) == 1
    fee = 100_000 * contract.fee_bps // 10_000
    after = money(contract, milestone)
    assert after["escrow"] == 0
    assert after["freelancer_pending"] == 100_000 - fee
    assert after["fees"] == fee
    assert after["client"] == 0
    assert after["transfers"] > transfers
    dispute.refresh_from_db()
    milestone.refresh_from_db()
    assert dispute.status == Dispute.Status.RESOLVED
    assert dispute.freelancer_share_bps == 10_000
    assert dispute.resolved_by is None
    assert milestone.status == Milestone.Status.RESOLVED
    (event,) = events(dispute, "resolved")
    assert "Resolved by silence" in event.text
    assert "did not respond" in event.text


@pytest.mark.django_db
def test_silence_refunds_the_whole_escrow_to_a_client_opener():
    contract, milestone, dispute = opened("client")
    before = money(contract, milestone)
    assert settle_lapsed_disputes(now=reminded(dispute)) == 1
    after = money(contract, milestone)
    assert after["escrow"] == 0
    # Paid by card: refunded to the card, the balance untouched.
    refund = Refund.objects.get(milestone=milestone)
    assert (refund.destination, refund.amount) == (Refund.Destination.CARD, 100_000)
    assert after["client"] == before["client"]
    assert after["freelancer_pending"] == 0
    assert after["fees"] == before["fees"]
    dispute.refresh_from_db()
    assert (dispute.status, dispute.freelancer_share_bps) == (Dispute.Status.RESOLVED, 0)
    assert "Resolved by silence" in events(dispute, "resolved")[0].text


@pytest.mark.django_db
def test_no_lapse_without_a_reminder_and_a_late_reminder_gives_a_full_day():
    contract, milestone, dispute = opened("client")
    late = dispute.response_due_at + 3 * DAY  # the worker was down through the window
    assert settle_lapsed_disputes(now=late) == 0
    assert remind_due_responses(now=late) == 1
    assert settle_lapsed_disputes(now=late + timedelta(hours=23)) == 0
    assert settle_lapsed_disputes(now=late + DAY) == 1
    assert money(contract, milestone)["escrow"] == 0


@pytest.mark.django_db
def test_a_responded_dispute_is_neither_reminded_nor_resolved():
    contract, milestone, dispute = opened("client")
    respond_to_dispute(actor=contract.freelancer, dispute_id=dispute.pk, text="It was delivered.")
    before = money(contract, milestone)
    far = dispute.response_due_at + 30 * DAY
    assert remind_due_responses(now=far) == 0
    assert settle_lapsed_disputes(now=far) == 0
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.RESPONDED
    assert money(contract, milestone) == before


@pytest.mark.django_db
def test_a_reminded_dispute_answered_in_time_is_left_alone():
    contract, milestone, dispute = opened("freelancer")
    lapse = reminded(dispute)
    respond_to_dispute(actor=contract.client, dispute_id=dispute.pk, text="Here is why.")
    assert settle_lapsed_disputes(now=lapse) == 0
    assert money(contract, milestone)["escrow"] == 100_000


@pytest.mark.django_db
def test_running_twice_acts_once():
    _contract, _milestone, dispute = opened("freelancer")
    lapse = reminded(dispute)
    assert remind_due_responses(now=dispute.response_due_at - DAY) == 0
    assert settle_lapsed_disputes(now=lapse) == 1
    transfers = Transfer.objects.count()
    assert settle_lapsed_disputes(now=lapse) == 0
    assert settle_lapsed_disputes(now=lapse + 10 * DAY) == 0
    assert Transfer.objects.count() == transfers
    assert len(events(dispute, "reminded")) == 1
    assert len(events(dispute, "resolved")) == 1


@pytest.mark.django_db
def test_on_the_chain_rail_silence_escalates_with_the_openers_ask():
    contract, milestone, dispute = opened("freelancer")
    lapse = reminded(dispute)
    # Only the rail matters to this step; no chain call is made when escalating.
    Contract.objects.filter(pk=contract.pk).update(rail=Rail.CHAIN)
    assert settle_lapsed_disputes(now=lapse) == 1
    dispute.refresh_from_db()
    assert (dispute.status, dispute.freelancer_share_bps) == (Dispute.Status.ESCALATED, 10_000)
    (event,) = events(dispute, "escalated")
    assert "silence resolves the dispute" in event.text
    assert money(contract, milestone)["escrow"] == 100_000
    assert settle_lapsed_disputes(now=lapse) == 0


@pytest.mark.django_db
def test_the_task_runs_every_step_and_returns_counts():
    _contract, _milestone, dispute = opened("client")
    # Real clock: the window is 5 days ahead, so nothing is due yet.
    assert tasks.settle() == {
        "reminders": 0,
        "resolved by silence": 0,
        "decisions executed": 0,
        "chain resolutions closed": 0,
    }
    Dispute.objects.filter(pk=dispute.pk).update(
        response_due_at=dispute.created_at - 2 * DAY, reminded_at=dispute.created_at - 3 * DAY
    )
    counts = tasks.settle()
    assert counts is not None
    assert counts["resolved by silence"] == 1


def test_the_task_is_registered_with_celery():
    celery_app.loader.import_default_modules()
    assert "disputes.settle" in celery_app.tasks


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_resolve_once():
    contract, milestone, dispute = opened("freelancer")
    lapse = reminded(dispute)
    transfers = Transfer.objects.count()
    results = race([lambda: settle_lapsed_disputes(now=lapse)] * 2)
    assert sorted(results) == [0, 1], results
    after = money(contract, milestone)
    fee = 100_000 * contract.fee_bps // 10_000
    assert after["escrow"] == 0
    assert after["freelancer_pending"] == 100_000 - fee
    assert Transfer.objects.count() > transfers
    assert len(events(dispute, "resolved")) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reminder_runs_at_once_send_one_reminder():
    _contract, _milestone, dispute = opened("client")
    results = race([lambda: remind_due_responses(now=dispute.response_due_at - DAY)] * 2)
    assert sorted(results) == [0, 1], results
    assert len(events(dispute, "reminded")) == 1


@pytest.mark.django_db
def test_silence_on_the_chain_rail_gives_the_case_to_an_arbiter_and_is_audited():
    from smartpay.models import AuditEntry
    from tests.disputes.helpers import make_arbiter

    contract, _milestone, dispute = opened("client")
    arbiter = make_arbiter()
    lapse = reminded(dispute)
    Contract.objects.filter(pk=contract.pk).update(rail=Rail.CHAIN)
    assert settle_lapsed_disputes(now=lapse) == 1
    dispute.refresh_from_db()
    assert dispute.arbiter == arbiter
    assert dispute.decision_due_at is not None
    actions = list(
        AuditEntry.objects.filter(target_id=str(dispute.pk), target_type="disputes.dispute")
        .order_by("pk")
        .values_list("action", "actor_id")
    )
    assert actions == [
        ("dispute.opened", contract.client_id),
        ("dispute.reminded", None),
        ("dispute.assigned", None),
        ("dispute.lapsed", None),
    ]
