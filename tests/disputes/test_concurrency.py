"""Racing dispute requests on PostgreSQL's row locks: one outcome, money moved once.

A domain error is a legal answer to a racing request; anything else (a deadlock, an
integrity error) fails the test.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from disputes.models import Dispute, SettlementOffer
from disputes.services import (
    accept_settlement,
    appeal_decision,
    confirm_decision,
    execute_due_decisions,
    open_dispute,
    propose_settlement,
    resolve_dispute,
)
from escrow.models import Transfer
from marketplace.models import Milestone, User
from smartpay.errors import DomainError
from tests.disputes.helpers import funded_milestone, lapse_appeal_window, make_arbiter, money
from tests.escrow.test_concurrency import race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_both_parties_opening_at_once_make_one_dispute() -> None:
    contract, milestone = funded_milestone()

    def opener(user: User) -> Callable[[], Dispute]:
        return lambda: open_dispute(
            actor=user, milestone_id=milestone.pk, reason="other", description="Mine."
        )

    results = race([opener(user) for user in (contract.client, contract.freelancer) * 3])
    opened = [r for r in results if isinstance(r, Dispute)]
    assert len(opened) == 1
    assert all(isinstance(r, DomainError) for r in results if r not in opened)
    assert Dispute.objects.count() == 1
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.DISPUTED


def test_an_accepted_offer_and_an_arbiter_decision_at_once_move_the_money_once() -> None:
    contract, milestone = funded_milestone()
    arbiter = make_arbiter()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="Bad."
    )
    offer = propose_settlement(
        actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=4_000
    )
    transfers = Transfer.objects.count()
    results = race(
        [
            lambda: accept_settlement(actor=contract.freelancer, offer_id=offer.pk),
            lambda: resolve_dispute(
                actor=arbiter, dispute_id=dispute.pk, freelancer_share_bps=9_000, rationale="R."
            ),
            lambda: accept_settlement(actor=contract.freelancer, offer_id=offer.pk),
        ]
    )
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1, results
    assert all(isinstance(r, DomainError) for r in results if r not in winners)
    dispute.refresh_from_db()
    bps = 4_000 if isinstance(winners[0], SettlementOffer) else 9_000
    assert dispute.freelancer_share_bps == bps
    if bps == 9_000:  # the arbiter won: the decision is open to appeal, then executes
        assert dispute.status == Dispute.Status.DECIDED
        assert Transfer.objects.count() == transfers
        assert lapse_appeal_window(dispute) == 1
    gross = 100_000 * bps // 10_000
    fee = gross * contract.fee_bps // 10_000
    after = money(contract, milestone)
    assert after["escrow"] == 0
    assert after["freelancer_pending"] == gross - fee
    assert after["fees"] == fee
    assert Transfer.objects.count() == transfers + 3


def _appeal_round_waiting_for_confirmation(settings: Any) -> tuple[Any, Milestone, Dispute]:
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {"usd": 1}
    contract, milestone = funded_milestone()
    first = make_arbiter()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="Bad."
    )
    second = make_arbiter()
    resolve_dispute(actor=first, dispute_id=dispute.pk, freelancer_share_bps=9_000, rationale="R.")
    confirm_decision(actor=second, dispute_id=dispute.pk, agree=True)
    make_arbiter()  # who hears the appeal
    appeal_decision(actor=contract.client, dispute_id=dispute.pk, reason="Unfair.")
    dispute.refresh_from_db()
    appeal_arbiter = dispute.arbiter
    assert appeal_arbiter is not None
    assert appeal_arbiter.pk not in (first.pk, second.pk)
    resolve_dispute(
        actor=appeal_arbiter, dispute_id=dispute.pk, freelancer_share_bps=2_500, rationale="A."
    )
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.CONFIRMING
    return contract, milestone, dispute


def test_several_second_arbiters_confirming_at_once_move_the_money_once(settings: Any) -> None:
    contract, milestone, dispute = _appeal_round_waiting_for_confirmation(settings)
    confirmers = [make_arbiter() for _ in range(4)]
    transfers = Transfer.objects.count()
    results = race(
        [
            lambda a=arbiter: confirm_decision(actor=a, dispute_id=dispute.pk, agree=True)
            for arbiter in confirmers
        ]
        + [execute_due_decisions, execute_due_decisions]
    )
    confirmed = [r for r in results if isinstance(r, Dispute)]
    assert len(confirmed) == 1, results
    assert all(isinstance(r, DomainError | int) for r in results if r not in confirmed), results
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.RESOLVED
    gross = 25_000
    fee = gross * contract.fee_bps // 10_000
    after = money(contract, milestone)
    assert after["escrow"] == 0
    assert after["freelancer_pending"] == gross - fee
    assert after["fees"] == fee
    assert Transfer.objects.count() == transfers + 3


def test_twin_runs_execute_a_lapsed_decision_once() -> None:
    contract, milestone = funded_milestone()
    arbiter = make_arbiter()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="Bad."
    )
    resolve_dispute(actor=arbiter, dispute_id=dispute.pk, freelancer_share_bps=6_000, rationale="R")
    Dispute.objects.filter(pk=dispute.pk).update(
        appeal_due_at=timezone.now() - timedelta(seconds=1)
    )
    transfers = Transfer.objects.count()
    results = race(
        [execute_due_decisions] * 4
        + [lambda: appeal_decision(actor=contract.client, dispute_id=dispute.pk, reason="Late.")]
    )
    assert sorted(r for r in results if isinstance(r, int)) == [0, 0, 0, 1], results
    assert isinstance(results[-1], DomainError)  # too late, or closed by then
    assert Transfer.objects.count() == transfers + 3
    assert money(contract, milestone)["escrow"] == 0
    assert execute_due_decisions() == 0  # replay: nothing left
    assert Transfer.objects.count() == transfers + 3
