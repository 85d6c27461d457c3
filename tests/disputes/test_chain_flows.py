"""Whole dispute flows on the chain rail, on a real anvil node: settled by an offer,
a second arbiter and an appeal, and a response deadline passing. Each ends (where money
moves) with the escrow contract's ``Resolved`` read back by chain sync."""

from __future__ import annotations

from datetime import timedelta

import pytest

from disputes.models import Dispute
from disputes.services import (
    accept_settlement,
    appeal_decision,
    close_chain_resolutions,
    confirm_decision,
    escalate_dispute,
    open_dispute,
    propose_settlement,
    resolve_dispute,
)
from disputes.services.deadlines import remind_due_responses, settle_lapsed_disputes
from escrow import ledger
from escrow.chain.arbiter import (
    resolve_share,
    send_chain_transaction,
    split,
    track_chain_transactions,
)
from escrow.chain.sync import sync_chain
from escrow.models import ChainTransaction, LedgerAccount
from marketplace.models import Contract, Milestone, User
from tests.chain.agreement import open_escrow
from tests.chain.conftest import Chain
from tests.chain.rail import ChainRail
from tests.disputes.helpers import make_arbiter

pytestmark = pytest.mark.django_db
Status = Dispute.Status


def carry_out_on_chain(dispute: Dispute, bps: int) -> None:
    """Send the queued ``resolve``, mine it, sync, close the case; then the ledger holds
    exactly the contract's split."""
    milestone = Milestone.objects.get(pk=dispute.milestone_id)
    contract: Contract = milestone.contract
    row = ChainTransaction.objects.get(milestone=milestone, kind="resolve")
    assert resolve_share(row) == bps
    send_chain_transaction(row.pk)
    track_chain_transactions()
    sync_chain()
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.RESOLVED
    assert close_chain_resolutions() == 1
    dispute.refresh_from_db()
    assert dispute.status == Status.RESOLVED
    net, fee, back = split(int(milestone.amount), bps, contract.fee_bps)
    available = LedgerAccount.Kind.AVAILABLE
    assert ledger.user_account(contract.freelancer, available, "eth").balance == net
    assert ledger.user_account(contract.client, available, "eth").balance == back
    assert ledger.fee_account("eth").balance == fee
    assert ledger.escrow_account(milestone).balance == 0


def disputed_on_chain(chain_rail: ChainRail, chain: Chain) -> tuple[Contract, Dispute]:
    """An ETH escrow funded from the client's wallet, then disputed: the case recorded
    here, the client's ``dispute`` transaction mined and synced."""
    opened = open_escrow(chain_rail)
    chain.fund(opened.onchain_id, 0)
    sync_chain()
    contract = opened.contract
    dispute = open_dispute(
        actor=contract.client,
        milestone_id=opened.milestone(0).pk,
        reason="quality",
        description="Half of the audit is missing.",
    )
    chain.dispute(opened.onchain_id, 0, by=chain_rail.accounts.client)
    sync_chain()
    assert opened.milestone(0).status == Milestone.Status.DISPUTED
    return contract, dispute


def test_an_accepted_offer_is_sent_by_the_assigned_arbiter_and_executes_at_once(
    chain_rail: ChainRail, chain: Chain
) -> None:
    contract, dispute = disputed_on_chain(chain_rail, chain)
    arbiter = make_arbiter()
    offer = propose_settlement(
        actor=contract.client, dispute_id=dispute.pk, freelancer_share_bps=4_000
    )
    accept_settlement(actor=contract.freelancer, offer_id=offer.pk)
    dispute.refresh_from_db()
    # Only the platform's arbiter key moves chain money: the agreed split waits for it.
    assert (dispute.status, dispute.arbiter) == (Status.ESCALATED, arbiter)
    assert not ChainTransaction.objects.filter(kind="resolve").exists()

    resolve_dispute(
        actor=arbiter, dispute_id=dispute.pk, freelancer_share_bps=4_000, rationale="As agreed."
    )
    dispute.refresh_from_db()
    assert dispute.status == Status.RESOLVING  # no appeal window for an agreed split
    carry_out_on_chain(dispute, 4_000)


def test_a_confirmed_decision_appealed_to_another_arbiter_is_final_on_chain(
    chain_rail: ChainRail, chain: Chain, settings: object
) -> None:
    contract, dispute = disputed_on_chain(chain_rail, chain)
    amount = int(Milestone.objects.get(pk=dispute.milestone_id).amount)
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {"eth": amount - 1}  # type: ignore[attr-defined]
    first, second, third, fourth = (make_arbiter() for _ in range(4))
    escalate_dispute(actor=contract.client, dispute_id=dispute.pk)
    dispute.refresh_from_db()
    assert dispute.arbiter == first  # least loaded, then longest waiting, then oldest
    resolve_dispute(
        actor=first, dispute_id=dispute.pk, freelancer_share_bps=7_000, rationale="Most done."
    )
    dispute.refresh_from_db()
    assert dispute.status == Status.CONFIRMING  # above the threshold
    confirm_decision(actor=second, dispute_id=dispute.pk, agree=True)
    dispute.refresh_from_db()
    assert dispute.status == Status.DECIDED
    assert not ChainTransaction.objects.filter(kind="resolve").exists()  # open to appeal

    appeal_decision(
        actor=contract.client, dispute_id=dispute.pk, reason="The report misses chapter 4."
    )
    dispute.refresh_from_db()
    assert dispute.is_appeal
    assert dispute.status == Status.ESCALATED
    assert dispute.arbiter in (third, fourth)  # never the first round's arbiters
    appeal_arbiter: User = dispute.arbiter
    confirmer = fourth if appeal_arbiter == third else third
    resolve_dispute(
        actor=appeal_arbiter,
        dispute_id=dispute.pk,
        freelancer_share_bps=3_000,
        rationale="Chapter 4 is missing.",
    )
    confirm_decision(actor=confirmer, dispute_id=dispute.pk, agree=True)
    dispute.refresh_from_db()
    assert dispute.status == Status.RESOLVING  # the appeal round's decision is final
    carry_out_on_chain(dispute, 3_000)
    kinds = list(dispute.events.values_list("kind", flat=True))
    assert kinds.count("decided") == 2
    assert kinds.count("confirmed") == 2
    assert "appealed" in kinds


def test_silence_past_the_response_deadline_sends_a_chain_case_to_an_arbiter(
    chain_rail: ChainRail, chain: Chain
) -> None:
    _contract, dispute = disputed_on_chain(chain_rail, chain)
    arbiter = make_arbiter()
    assert remind_due_responses(now=dispute.response_due_at - timedelta(days=1)) == 1
    assert settle_lapsed_disputes(now=dispute.response_due_at + timedelta(minutes=1)) == 1
    dispute.refresh_from_db()
    # Nobody but an arbiter's key resolves on chain: silence escalates, nothing is sent.
    assert (dispute.status, dispute.arbiter) == (Status.ESCALATED, arbiter)
    assert dispute.decision_due_at is not None
    assert not ChainTransaction.objects.filter(kind="resolve").exists()
    assert settle_lapsed_disputes(now=dispute.response_due_at + timedelta(days=1)) == 0
