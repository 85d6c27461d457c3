"""Racing dispute requests on PostgreSQL's row locks: one outcome, money moved once.

A domain error is a legal answer to a racing request; anything else (a deadlock, an
integrity error) fails the test.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from disputes.models import Dispute, SettlementOffer
from disputes.services import accept_settlement, open_dispute, propose_settlement, resolve_dispute
from escrow.models import Transfer
from marketplace.models import Milestone, User
from smartpay.errors import DomainError
from tests.disputes.helpers import funded_milestone, make_arbiter, money
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
    gross = 100_000 * bps // 10_000
    fee = gross * contract.fee_bps // 10_000
    after = money(contract, milestone)
    assert after["escrow"] == 0
    assert after["freelancer_pending"] == gross - fee
    assert after["fees"] == fee
    assert Transfer.objects.count() == transfers + 3
