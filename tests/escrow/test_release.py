"""Approve and release: the fee, the payout hold, partial releases, auto-release."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from escrow import ledger
from escrow.models import LedgerAccount, Release, ReviewReminder, Transfer
from escrow.services import release as services
from marketplace.models import Contract, Milestone
from smartpay.errors import DomainError, InvalidTransition, NotAllowed, NotFoundError
from tests.escrow.money import (
    balance,
    card_contract,
    escrow_of,
    fees,
    first_milestone,
    fund,
    submit,
)
from tests.factories import verified_user

pytestmark = pytest.mark.django_db


def submitted_milestone(amounts: tuple[int, ...] = (100_000, 150_000)) -> Milestone:
    return submit(fund(first_milestone(card_contract(amounts))))


def test_approval_pays_the_freelancer_pending_minus_the_fee():
    milestone = submitted_milestone()
    contract = milestone.contract
    release = services.approve_milestone(actor=contract.client, milestone_id=milestone.pk)
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.RELEASED
    assert (release.amount, release.fee, release.freelancer_amount) == (100_000, 10_000, 90_000)
    assert balance(contract.freelancer, "pending") == 90_000
    assert balance(contract.freelancer, "available") == 0
    assert fees() == 10_000
    assert escrow_of(milestone) == 0
    assert ledger.find_problems() == []


def test_partial_release_returns_the_rest_to_the_client():
    milestone = submitted_milestone()
    contract = milestone.contract
    release = services.approve_milestone(
        actor=contract.client, milestone_id=milestone.pk, amount=60_001
    )
    assert release.fee == 6_000  # rounded down: the fraction stays with the freelancer
    assert release.freelancer_amount == 54_001
    assert release.returned_amount == 39_999
    assert balance(contract.client) == 39_999
    assert balance(contract.freelancer, "pending") + fees() + balance(contract.client) == 100_000


def test_fee_snapshot_on_the_contract_is_used():
    milestone = submitted_milestone()
    Contract.objects.filter(pk=milestone.contract_id).update(fee_bps=333)
    release = services.approve_milestone(actor=milestone.contract.client, milestone_id=milestone.pk)
    assert release.fee == 100_000 * 333 // 10_000


def test_approving_twice_moves_money_once():
    milestone = submitted_milestone()
    client = milestone.contract.client
    services.approve_milestone(actor=client, milestone_id=milestone.pk)
    before = Transfer.objects.count()
    with pytest.raises(InvalidTransition):
        services.approve_milestone(actor=client, milestone_id=milestone.pk)
    assert Transfer.objects.count() == before
    assert Release.objects.count() == 1


def test_approving_unsubmitted_work_is_refused():
    milestone = fund(first_milestone(card_contract()))
    with pytest.raises(InvalidTransition):
        services.approve_milestone(actor=milestone.contract.client, milestone_id=milestone.pk)
    assert escrow_of(milestone) == 100_000


@pytest.mark.parametrize("amount", [0, -5, 100_001, 10**30])
def test_releasing_more_than_held_or_nothing_is_refused(amount):
    milestone = submitted_milestone()
    with pytest.raises(DomainError) as refused:
        services.approve_milestone(
            actor=milestone.contract.client, milestone_id=milestone.pk, amount=amount
        )
    assert refused.value.code == "invalid_release_amount"
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.SUBMITTED
    assert escrow_of(milestone) == 100_000


def test_the_freelancer_cannot_approve_and_strangers_get_404():
    milestone = submitted_milestone()
    with pytest.raises(NotAllowed):
        services.approve_milestone(actor=milestone.contract.freelancer, milestone_id=milestone.pk)
    with pytest.raises(NotFoundError):
        services.approve_milestone(actor=verified_user(), milestone_id=milestone.pk)
    assert not Release.objects.exists()


def test_last_release_completes_the_contract():
    contract = card_contract((50_000,))
    milestone = submit(fund(first_milestone(contract)))
    services.approve_milestone(actor=contract.client, milestone_id=milestone.pk)
    contract.refresh_from_db()
    assert contract.status == Contract.Status.COMPLETED


def test_auto_release_after_the_review_window():
    milestone = submitted_milestone()
    assert services.auto_release_due() == 0
    Milestone.objects.filter(pk=milestone.pk).update(
        review_deadline=timezone.now() - timedelta(seconds=1)
    )
    assert services.auto_release_due() == 1
    assert services.auto_release_due() == 0
    release = Release.objects.get(milestone=milestone)
    assert release.released_by is None
    assert balance(milestone.contract.freelancer, "pending") == 90_000


def test_reminders_three_days_and_one_day_before_auto_release_are_sent_once():
    milestone = submitted_milestone()
    now = timezone.now()
    Milestone.objects.filter(pk=milestone.pk).update(review_deadline=now + timedelta(days=2))
    assert services.send_review_reminders(now=now) == 1
    assert services.send_review_reminders(now=now) == 0
    Milestone.objects.filter(pk=milestone.pk).update(review_deadline=now + timedelta(hours=20))
    assert services.send_review_reminders(now=now) == 2  # a new window: both reminders due
    assert ReviewReminder.objects.count() == 3


def test_reminder_mail_names_the_release_date(django_capture_on_commit_callbacks, eager_tasks):
    milestone = submitted_milestone()
    now = timezone.now()
    Milestone.objects.filter(pk=milestone.pk).update(review_deadline=now + timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        services.send_review_reminders(now=now)
    assert len(mail.outbox) == 1
    assert "released automatically in 3 day(s)" in mail.outbox[0].subject
    assert mail.outbox[0].to == [milestone.contract.client.email]


def test_pending_becomes_available_after_the_hold_once():
    milestone = submitted_milestone()
    freelancer = milestone.contract.freelancer
    services.approve_milestone(actor=milestone.contract.client, milestone_id=milestone.pk)
    assert services.make_releases_available() == 0
    later = timezone.now() + timedelta(days=6)
    assert services.make_releases_available(now=later) == 1
    assert services.make_releases_available(now=later) == 0
    assert balance(freelancer, "pending") == 0
    assert balance(freelancer, "available") == 90_000
    assert LedgerAccount.objects.filter(owner=freelancer).count() == 2
    assert ledger.find_problems() == []
