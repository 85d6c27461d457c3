"""Chargebacks freeze escrow until staff lift the hold."""

from __future__ import annotations

import pytest
from django.core import mail

from escrow.models import EscrowHold, Release
from escrow.services import holds as services
from escrow.services import refunds, release
from smartpay.errors import Conflict, NotAllowed
from tests.escrow.money import (
    card_contract,
    escrow_of,
    first_milestone,
    fund,
    intent_of,
    pay_by_card,
    submit,
)
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_chargeback_freezes_the_funded_milestones_and_tells_staff(
    django_capture_on_commit_callbacks, settings
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    contract = card_contract()
    milestones = list(contract.milestones.order_by("position"))
    funding = pay_by_card(milestones)
    with django_capture_on_commit_callbacks(execute=True):
        holds = services.freeze_for_chargeback(
            payment_intent_id=intent_of(funding), dispute_id="dp_1", reason="fraudulent"
        )
    assert len(holds) == 2
    assert len(mail.outbox) == 1
    assert "dp_1" in mail.outbox[0].subject
    # The same event again adds nothing.
    services.freeze_for_chargeback(
        payment_intent_id=intent_of(funding), dispute_id="dp_1", reason="fraudulent"
    )
    assert EscrowHold.objects.count() == 2


def test_frozen_escrow_cannot_be_released_or_refunded_until_lifted():
    contract = card_contract()
    first = fund(first_milestone(contract))
    funding = first.funding_items.get().funding
    submit(first)
    [hold] = services.freeze_for_chargeback(
        payment_intent_id=intent_of(funding), dispute_id="dp_2", reason="general"
    )
    with pytest.raises(Conflict) as refused:
        release.approve_milestone(actor=contract.client, milestone_id=first.pk)
    assert refused.value.code == "escrow_frozen"
    assert escrow_of(first) == 100_000
    with pytest.raises(NotAllowed):
        services.lift_hold(actor=contract.client, hold_id=hold.pk)
    services.lift_hold(actor=make_user(is_staff=True), hold_id=hold.pk)
    release.approve_milestone(actor=contract.client, milestone_id=first.pk)
    assert Release.objects.filter(milestone=first).exists()


def test_frozen_funded_milestone_cannot_be_refunded():
    contract = card_contract()
    milestone = fund(first_milestone(contract))
    funding = milestone.funding_items.get().funding
    services.freeze_for_chargeback(
        payment_intent_id=intent_of(funding), dispute_id="dp_3", reason="general"
    )
    with pytest.raises(Conflict):
        refunds.refund_milestone(actor=contract.freelancer, milestone_id=milestone.pk)
    assert escrow_of(milestone) == 100_000


def test_chargeback_for_an_unknown_payment_changes_nothing():
    assert (
        services.freeze_for_chargeback(payment_intent_id="pi_x", dispute_id="dp", reason="") == []
    )


def test_a_won_chargeback_unfreezes_and_a_lost_one_keeps_the_freeze(
    django_capture_on_commit_callbacks, settings
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    won_contract, lost_contract = card_contract(), card_contract()
    won = fund(first_milestone(won_contract)).funding_items.get().funding
    lost = fund(first_milestone(lost_contract)).funding_items.get().funding
    services.freeze_for_chargeback(
        payment_intent_id=intent_of(won), dispute_id="dp_won", reason="fraudulent"
    )
    services.freeze_for_chargeback(
        payment_intent_id=intent_of(lost), dispute_id="dp_lost", reason="fraudulent"
    )
    services.close_chargeback(dispute_id="dp_won", status="won")
    with django_capture_on_commit_callbacks(execute=True):
        services.close_chargeback(dispute_id="dp_lost", status="lost")
    assert EscrowHold.objects.get(cause="dp_won").lifted_at is not None
    still = EscrowHold.objects.get(cause="dp_lost")
    assert still.lifted_at is None
    assert "lost" in still.reason
    assert any("dp_lost" in message.subject for message in mail.outbox)
    # The won milestone's money may move again; the lost one's may not.
    refunds.refund_milestone(
        actor=won_contract.freelancer,
        milestone_id=first_milestone(won_contract).pk,
        destination="balance",
    )
    with pytest.raises(Conflict):
        refunds.refund_milestone(
            actor=lost_contract.freelancer,
            milestone_id=first_milestone(lost_contract).pk,
            destination="balance",
        )
