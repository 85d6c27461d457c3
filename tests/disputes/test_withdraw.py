"""The opener withdraws a dispute before any decision; the milestone is as it was."""

from __future__ import annotations

import pytest

from disputes.errors import DisputeClosed, NotOpener
from disputes.models import Dispute, DisputeEvent, SettlementOffer
from disputes.services import (
    open_dispute,
    propose_settlement,
    withdraw_dispute,
)
from escrow.models import Transfer
from marketplace.models import Milestone
from smartpay.errors import DomainError, NotFoundError
from smartpay.models import AuditEntry
from tests.disputes.helpers import decide, funded_milestone, make_arbiter, money, opened_dispute
from tests.escrow.money import submit
from tests.factories import verified_user

pytestmark = pytest.mark.django_db
Status = Dispute.Status


def state() -> tuple[object, ...]:
    return (
        DisputeEvent.objects.count(),
        AuditEntry.objects.count(),
        Transfer.objects.count(),
        *Dispute.objects.order_by("pk").values_list("status", flat=True),
        *Milestone.objects.order_by("pk").values_list("status", flat=True),
    )


@pytest.mark.parametrize("submitted", [False, True])
def test_withdrawing_puts_the_milestone_back_and_moves_no_money(submitted: bool) -> None:
    contract, milestone = funded_milestone()
    if submitted:
        submit(milestone)
    was = milestone.status
    dispute = opened_dispute(contract, milestone, escalate=False)
    assert dispute.milestone_status_before == was
    offer = propose_settlement(
        actor=contract.freelancer, dispute_id=dispute.pk, freelancer_share_bps=9_000
    )
    before = money(contract, milestone)
    withdraw_dispute(actor=contract.client, dispute_id=dispute.pk)
    dispute.refresh_from_db()
    milestone.refresh_from_db()
    offer.refresh_from_db()
    assert dispute.status == Status.WITHDRAWN
    assert milestone.status == was
    assert offer.status == SettlementOffer.Status.WITHDRAWN
    assert money(contract, milestone) == before
    assert list(dispute.events.values_list("kind", flat=True))[-1] == "withdrawn"
    entry = AuditEntry.objects.get(action="dispute.withdrawn")
    assert entry.actor == contract.client
    assert (entry.before or {}).get("status") == "open"
    assert (entry.after or {}).get("status") == "withdrawn"
    last_move = milestone.events.order_by("-pk").first()
    assert last_move is not None
    assert last_move.note == "Dispute withdrawn"
    # The milestone may be disputed again.
    again = open_dispute(
        actor=contract.freelancer, milestone_id=milestone.pk, reason="payment", description="Pay."
    )
    assert again.status == Status.OPEN


def test_an_escalated_case_may_be_withdrawn_before_a_decision() -> None:
    contract, milestone = funded_milestone()
    make_arbiter()
    dispute = opened_dispute(contract, milestone)
    assert dispute.arbiter is not None
    withdraw_dispute(actor=contract.client, dispute_id=dispute.pk)
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED


def test_withdrawal_refusals_write_nothing() -> None:
    contract, milestone = funded_milestone()
    arbiter = make_arbiter()
    dispute = opened_dispute(contract, milestone)

    def refused(error: type[DomainError], call: object) -> DomainError:
        before = state()
        with pytest.raises(error) as raised:
            call()  # type: ignore[operator]
        assert state() == before
        return raised.value

    not_opener = refused(
        NotOpener, lambda: withdraw_dispute(actor=contract.freelancer, dispute_id=dispute.pk)
    )
    assert (not_opener.status_code, not_opener.code) == (403, "not_opener")
    refused(NotFoundError, lambda: withdraw_dispute(actor=verified_user(), dispute_id=dispute.pk))
    refused(NotFoundError, lambda: withdraw_dispute(actor=arbiter, dispute_id=dispute.pk))
    decide(arbiter, dispute)
    closed = refused(
        DisputeClosed, lambda: withdraw_dispute(actor=contract.client, dispute_id=dispute.pk)
    )
    assert closed.status_code == 409
