"""Refunds before submission: freelancer-initiated, requested by the client, lapsed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from escrow import ledger
from escrow.models import Refund, RefundRequest, Transfer
from escrow.services import funding as funding_services
from escrow.services import refunds as services
from marketplace.models import Milestone
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotAllowed, NotFoundError
from tests.escrow.money import (
    balance,
    card_contract,
    escrow_of,
    first_milestone,
    fund,
    submit,
    top_up,
)

pytestmark = pytest.mark.django_db


def funded() -> Milestone:
    return fund(first_milestone(card_contract()))


def test_freelancer_refund_to_card_books_the_money_out_and_calls_the_provider(
    django_capture_on_commit_callbacks,
):
    milestone = funded()
    contract = milestone.contract
    with django_capture_on_commit_callbacks() as callbacks:
        refund = services.refund_milestone(actor=contract.freelancer, milestone_id=milestone.pk)
    assert callbacks, "the provider call is queued for after the commit"
    assert refund.status == Refund.Status.PENDING
    assert balance(contract.client) == 0  # booked out before the provider is called
    services.send_card_refund(refund_id=refund.pk)
    services.send_card_refund(refund_id=refund.pk)  # a twin worker: no second refund
    refund.refresh_from_db()
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.REFUNDED
    assert refund.destination == Refund.Destination.CARD
    assert refund.provider_refund_id
    assert refund.status == Refund.Status.SUCCEEDED
    assert escrow_of(milestone) == 0
    assert balance(contract.client) == 0
    assert int(ledger.external_account("card", "usd").balance) == 0  # in and out again
    assert ledger.find_problems() == []


def test_refund_to_balance_keeps_the_money_for_reuse():
    milestone = funded()
    contract = milestone.contract
    refund = services.refund_milestone(
        actor=contract.freelancer, milestone_id=milestone.pk, destination="balance"
    )
    assert refund.status == Refund.Status.SUCCEEDED
    assert balance(contract.client) == 100_000


def test_balance_funded_milestone_cannot_be_refunded_to_a_card():
    contract = card_contract()
    milestone = first_milestone(contract)
    top_up(contract.client, 100_000)
    funding_services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="b", source="balance"
    )
    with pytest.raises(DomainError) as refused:
        services.refund_milestone(
            actor=contract.freelancer, milestone_id=milestone.pk, destination="card"
        )
    assert refused.value.code == "invalid_destination"
    refund = services.refund_milestone(actor=contract.freelancer, milestone_id=milestone.pk)
    assert refund.destination == Refund.Destination.BALANCE


def test_client_cannot_refund_alone_but_can_request():
    milestone = funded()
    contract = milestone.contract
    with pytest.raises(NotAllowed):
        services.refund_milestone(actor=contract.client, milestone_id=milestone.pk)
    request = services.request_refund(
        actor=contract.client,
        milestone_id=milestone.pk,
        reason="Plans changed",
        destination="balance",
    )
    assert request.status == RefundRequest.Status.OPEN
    with pytest.raises(Conflict):
        services.request_refund(actor=contract.client, milestone_id=milestone.pk, reason="again")
    refund = services.refund_milestone(actor=contract.freelancer, milestone_id=milestone.pk)
    request.refresh_from_db()
    assert request.status == RefundRequest.Status.ACCEPTED
    assert refund.destination == Refund.Destination.BALANCE  # the client's choice


def test_declined_and_withdrawn_requests_move_nothing():
    milestone = funded()
    contract = milestone.contract
    request = services.request_refund(actor=contract.client, milestone_id=milestone.pk, reason="x")
    with pytest.raises(NotAllowed):
        services.decline_refund_request(actor=contract.client, refund_request_id=request.pk)
    services.decline_refund_request(actor=contract.freelancer, refund_request_id=request.pk)
    with pytest.raises(Conflict):
        services.withdraw_refund_request(actor=contract.client, refund_request_id=request.pk)
    again = services.request_refund(actor=contract.client, milestone_id=milestone.pk, reason="y")
    services.withdraw_refund_request(actor=contract.client, refund_request_id=again.pk)
    with pytest.raises(NotFoundError):
        services.withdraw_refund_request(actor=card_contract().client, refund_request_id=again.pk)
    assert escrow_of(milestone) == 100_000


def test_unanswered_request_is_accepted_after_the_response_window():
    milestone = funded()
    contract = milestone.contract
    services.request_refund(actor=contract.client, milestone_id=milestone.pk, reason="x")
    assert services.accept_lapsed_refund_requests() == 0
    later = timezone.now() + timedelta(days=8)
    assert services.accept_lapsed_refund_requests(now=later) == 1
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.REFUNDED


def test_submitted_work_cannot_be_refunded():
    milestone = submit(funded())
    with pytest.raises(InvalidTransition):
        services.refund_milestone(actor=milestone.contract.freelancer, milestone_id=milestone.pk)
    with pytest.raises(InvalidTransition):
        services.request_refund(
            actor=milestone.contract.client, milestone_id=milestone.pk, reason="x"
        )
    assert not Refund.objects.exists()


def test_refunding_twice_moves_money_once():
    milestone = funded()
    services.refund_milestone(
        actor=milestone.contract.freelancer, milestone_id=milestone.pk, destination="balance"
    )
    before = Transfer.objects.count()
    with pytest.raises(InvalidTransition):
        services.refund_milestone(
            actor=milestone.contract.freelancer, milestone_id=milestone.pk, destination="balance"
        )
    assert Transfer.objects.count() == before


def test_refund_event_before_the_refund_is_recorded_is_retried_later():
    with pytest.raises(services.RefundNotYetKnown):
        services.confirm_card_refund(provider_refund_id="re_unknown", status="succeeded")


def test_a_failed_card_refund_returns_the_money_to_the_balance():
    milestone = funded()
    contract = milestone.contract
    refund = services.refund_milestone(actor=contract.freelancer, milestone_id=milestone.pk)
    Refund.objects.filter(pk=refund.pk).update(provider_refund_id="re_x")
    services.confirm_card_refund(provider_refund_id="re_x", status="failed")
    services.confirm_card_refund(provider_refund_id="re_x", status="failed")
    refund.refresh_from_db()
    assert refund.status == Refund.Status.FAILED
    assert balance(contract.client) == 100_000
    assert ledger.find_problems() == []
