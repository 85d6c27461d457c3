"""A dispute on the chain rail: recorded here, decided by the escrow contract."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import _state as celery_state

from disputes.models import Dispute
from disputes.services import close_chain_resolutions, open_dispute, resolve_dispute
from escrow import ledger
from escrow.chain.arbiter import (
    resolve_share,
    send_chain_transaction,
    split,
    track_chain_transactions,
)
from escrow.chain.sync import sync_chain
from escrow.models import ChainTransaction, LedgerAccount, Transfer
from marketplace.models import Milestone
from smartpay.celery import app as celery_app
from tests.chain.agreement import open_escrow
from tests.chain.conftest import Chain
from tests.chain.rail import ChainRail
from tests.chain.test_arbiter import escrow_on_chain, milestone_at
from tests.disputes.helpers import lapse_appeal_window, make_arbiter

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def one_arbiter(settings: Any) -> None:
    """These amounts are above the ETH second-arbiter threshold; one arbiter decides here."""
    settings.DISPUTE_SECOND_ARBITER_ABOVE = {}


def test_an_arbiter_decision_on_chain_queues_resolve_and_waits_for_sync(
    chain_rail: ChainRail, chain: Chain
) -> None:
    contract = escrow_on_chain(chain_rail, chain, disputed=(0,))
    milestone = milestone_at(contract, 0)
    arbiter = make_arbiter()
    dispute = open_dispute(
        actor=contract.client, milestone_id=milestone.pk, reason="quality", description="Bad."
    )
    transfers = Transfer.objects.count()
    resolve_dispute(
        actor=arbiter, dispute_id=dispute.pk, freelancer_share_bps=7_000, rationale="Most done."
    )
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.DECIDED  # open to appeal: nothing sent yet
    assert not ChainTransaction.objects.filter(milestone=milestone, kind="resolve").exists()
    assert lapse_appeal_window(dispute) == 1
    dispute.refresh_from_db()
    milestone.refresh_from_db()
    assert dispute.status == Dispute.Status.RESOLVING
    assert dispute.resolved_by == arbiter
    assert dispute.freelancer_share_bps == 7_000
    assert dispute.resolved_at is None  # set when chain sync reads ``Resolved``
    row = ChainTransaction.objects.get(milestone=milestone, kind="resolve")
    assert row.status == ChainTransaction.Status.QUEUED
    assert resolve_share(row) == 7_000
    # The ledger and the milestone follow the chain, not the decision.
    assert milestone.status == Milestone.Status.DISPUTED
    assert Transfer.objects.count() == transfers
    assert list(dispute.events.values_list("kind", flat=True)) == [
        "opened",
        "assigned",
        "decided",
        "resolution_sent",
    ]
    assert lapse_appeal_window(dispute) == 0  # replay: nothing more is sent


@pytest.fixture
def eager() -> Iterator[None]:
    """Celery tasks run in the calling thread (no broker, no worker)."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    join_will_block = celery_state.task_join_will_block()  # type: ignore[attr-defined]
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved
    celery_state._set_task_join_will_block(join_will_block)  # type: ignore[attr-defined]


def test_a_dispute_opened_before_the_wallet_tx_closes_when_sync_reads_resolved(
    chain_rail: ChainRail, chain: Chain, eager: None
) -> None:
    opened = open_escrow(chain_rail)
    chain.fund(opened.onchain_id, 0)
    sync_chain()
    milestone = opened.milestone(0)
    assert milestone.status == Milestone.Status.FUNDED
    contract = opened.contract
    dispute = open_dispute(
        actor=contract.freelancer, milestone_id=milestone.pk, reason="payment", description="Pay."
    )
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED  # the wallet's transaction disputes it
    chain.dispute(opened.onchain_id, 0, by=chain_rail.accounts.freelancer)
    sync_chain()
    resolve_dispute(
        actor=make_arbiter(), dispute_id=dispute.pk, freelancer_share_bps=2_500, rationale="Part."
    )
    assert lapse_appeal_window(dispute) == 1
    assert close_chain_resolutions() == 0  # nothing on chain yet
    row = ChainTransaction.objects.get(milestone=milestone, kind="resolve")
    send_chain_transaction(row.pk)
    track_chain_transactions()
    sync_chain()
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.RESOLVED
    assert close_chain_resolutions() == 1
    dispute.refresh_from_db()
    assert dispute.status == Dispute.Status.RESOLVED
    assert dispute.resolved_at is not None
    net, fee, back = split(int(milestone.amount), 2_500, contract.fee_bps)
    assert ledger.fee_account("eth").balance == fee
    available = LedgerAccount.Kind.AVAILABLE
    assert ledger.user_account(contract.freelancer, available, "eth").balance == net
    assert ledger.user_account(contract.client, available, "eth").balance == back
    assert ledger.escrow_account(milestone).balance == 0
    assert close_chain_resolutions() == 0
