"""Funding milestones by card and from the balance."""

from __future__ import annotations

import pytest

from escrow import ledger
from escrow.errors import InsufficientFunds
from escrow.models import Funding, Transfer
from escrow.services import funding as services
from marketplace.models import Milestone
from smartpay.errors import Conflict, NotAllowed, NotFoundError
from tests.escrow.money import balance, card_contract, escrow_of, first_milestone, intent_of, top_up
from tests.factories import verified_user

pytestmark = pytest.mark.django_db


def test_card_funding_waits_for_the_succeeded_event():
    contract = card_contract()
    milestone = first_milestone(contract)
    funding = services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="a"
    )
    milestone.refresh_from_db()
    assert funding.status == Funding.Status.PENDING
    assert funding.payment_intent_id
    assert funding.checkout_url
    assert milestone.status == Milestone.Status.DRAFT
    assert not Transfer.objects.exists()

    services.confirm_funding(
        payment_intent_id=intent_of(funding), amount_received=100_000, currency="usd"
    )
    milestone.refresh_from_db()
    funding.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED
    assert funding.status == Funding.Status.SUCCEEDED
    assert escrow_of(milestone) == 100_000
    assert balance(contract.client) == 0
    assert ledger.find_problems() == []


def test_one_payment_funds_several_milestones():
    contract = card_contract()
    ids = list(contract.milestones.values_list("pk", flat=True))
    funding = services.start_funding(actor=contract.client, milestone_ids=ids, request_key="b")
    assert funding.amount == 250_000
    assert funding.items.count() == 2
    services.confirm_funding(
        payment_intent_id=intent_of(funding), amount_received=250_000, currency="usd"
    )
    assert set(contract.milestones.values_list("status", flat=True)) == {"funded"}
    assert ledger.find_problems() == []


def test_replayed_succeeded_event_moves_money_once():
    contract = card_contract()
    milestone = first_milestone(contract)
    funding = services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="c"
    )
    for _ in range(3):
        services.confirm_funding(
            payment_intent_id=intent_of(funding), amount_received=100_000, currency="usd"
        )
    assert Transfer.objects.count() == 2  # the charge, then into escrow
    assert escrow_of(milestone) == 100_000


def test_same_request_key_returns_the_same_funding():
    contract = card_contract()
    milestone = first_milestone(contract)
    first = services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="same"
    )
    again = services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="same"
    )
    assert again.pk == first.pk
    assert again.payment_intent_id == first.payment_intent_id
    other = first_milestone(card_contract())
    with pytest.raises(NotFoundError):
        services.start_funding(actor=contract.client, milestone_ids=[other.pk], request_key="x")


def test_reused_request_key_for_other_milestones_is_refused():
    contract = card_contract()
    first, second = contract.milestones.order_by("position")
    services.start_funding(actor=contract.client, milestone_ids=[first.pk], request_key="k")
    with pytest.raises(Conflict) as refused:
        services.start_funding(actor=contract.client, milestone_ids=[second.pk], request_key="k")
    assert refused.value.code == "request_key_reused"


def test_a_new_funding_cancels_an_abandoned_checkout_and_a_late_payment_is_kept():
    contract = card_contract()
    milestone = first_milestone(contract)
    abandoned = services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="1"
    )
    second = services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="2"
    )
    abandoned.refresh_from_db()
    assert abandoned.status == Funding.Status.CANCELED
    services.confirm_funding(
        payment_intent_id=intent_of(second), amount_received=100_000, currency="usd"
    )
    # The abandoned checkout was paid after all: the money lands in the balance.
    services.confirm_funding(
        payment_intent_id=intent_of(abandoned), amount_received=100_000, currency="usd"
    )
    assert escrow_of(milestone) == 100_000
    assert balance(contract.client) == 100_000
    assert ledger.find_problems() == []


def test_failed_payment_is_not_final_and_a_later_success_funds():
    contract = card_contract()
    milestone = first_milestone(contract)
    funding = services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="f"
    )
    services.fail_funding(payment_intent_id=intent_of(funding), message="Card declined.")
    funding.refresh_from_db()
    assert funding.status == Funding.Status.FAILED
    assert funding.failure_message == "Card declined."
    services.confirm_funding(
        payment_intent_id=intent_of(funding), amount_received=100_000, currency="usd"
    )
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED
    # A failure reported after the success changes nothing.
    services.fail_funding(payment_intent_id=intent_of(funding), message="late")
    funding.refresh_from_db()
    assert funding.status == Funding.Status.SUCCEEDED


def test_balance_funding_is_immediate():
    contract = card_contract()
    milestone = first_milestone(contract)
    top_up(contract.client, 120_000)
    funding = services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="bal", source="balance"
    )
    milestone.refresh_from_db()
    assert funding.status == Funding.Status.SUCCEEDED
    assert milestone.status == Milestone.Status.FUNDED
    assert balance(contract.client) == 20_000


def test_balance_funding_without_enough_money_writes_nothing():
    contract = card_contract()
    ids = list(contract.milestones.values_list("pk", flat=True))
    top_up(contract.client, 120_000)
    with pytest.raises(InsufficientFunds):
        services.start_funding(
            actor=contract.client, milestone_ids=ids, request_key="short", source="balance"
        )
    assert not Funding.objects.exists()
    assert set(contract.milestones.values_list("status", flat=True)) == {"draft"}
    assert balance(contract.client) == 120_000


def test_only_the_client_funds_and_strangers_get_404():
    contract = card_contract()
    milestone = first_milestone(contract)
    with pytest.raises(NotAllowed):
        services.start_funding(
            actor=contract.freelancer, milestone_ids=[milestone.pk], request_key="z"
        )
    with pytest.raises(NotFoundError):
        services.start_funding(actor=verified_user(), milestone_ids=[milestone.pk], request_key="z")
    assert not Funding.objects.exists()


def test_funding_a_funded_milestone_is_refused():
    contract = card_contract()
    milestone = first_milestone(contract)
    top_up(contract.client, 300_000)
    services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="1", source="balance"
    )
    with pytest.raises(Conflict) as refused:
        services.start_funding(
            actor=contract.client, milestone_ids=[milestone.pk], request_key="2", source="balance"
        )
    assert refused.value.code == "milestone_not_draft"
    assert balance(contract.client) == 200_000


def test_cancel_funding_then_the_milestone_stays_unfunded():
    contract = card_contract()
    milestone = first_milestone(contract)
    funding = services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="c"
    )
    cancelled = services.cancel_funding(actor=contract.client, funding_id=funding.pk)
    assert cancelled.status == Funding.Status.CANCELED
    with pytest.raises(NotFoundError):
        services.cancel_funding(actor=contract.freelancer, funding_id=funding.pk)


def test_unknown_payment_intent_is_ignored():
    assert (
        services.confirm_funding(payment_intent_id="pi_nope", amount_received=1, currency="usd")
        is None
    )
    assert not Transfer.objects.exists()
