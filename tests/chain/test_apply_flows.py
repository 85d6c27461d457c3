"""Escrow events from a real anvil applied to the ledger and the milestones: funding,
submission, revision, release (full, partial, automatic), refund, dispute and
resolution, in ETH and in the ERC-20, and contracts completing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from escrow.chain import node
from escrow.models import ChainEscrow, ChainLog, Transfer
from marketplace.models import Contract, MilestoneEvent, Submission
from tests.chain.conftest import DAY, DIGEST
from tests.chain.test_apply_support import (
    Escrowed,
    S,
    activity,
    available,
    escrowed,
    external,
    fees,
    held,
)

APPLIED = ChainLog.Status.APPLIED


@pytest.fixture
def eth(chain_rail: Any) -> Escrowed:
    return escrowed(chain_rail, "eth", (10**18, 2 * 10**18))


@pytest.fixture
def odd(chain_rail: Any) -> Escrowed:
    """Odd wei amounts whose sums stay within 15 significant digits, so they are exact
    on SQLite too (test_apply_precision checks 18-digit amounts on PostgreSQL)."""
    return escrowed(chain_rail, "eth", (123_456_789_012_345, 300_000_000_000_001))


@pytest.fixture
def usdc(chain_rail: Any) -> Escrowed:
    return escrowed(chain_rail, "usdc", (1_000_001, 2_500_000))


def created_and_funded(e: Escrowed, *indexes: int) -> None:
    e.create()
    for index in indexes:
        e.fund(index)
    e.sync()


def test_escrow_created_with_the_contracts_terms_is_accepted(eth: Escrowed) -> None:
    a = eth.rail.accounts
    eth.create()
    (row,) = eth.sync()
    assert (row.event, row.status, row.note) == ("EscrowCreated", APPLIED, "")
    eth.escrow.refresh_from_db()
    assert eth.escrow.status == ChainEscrow.Status.CREATED
    assert (eth.escrow.client_address, eth.escrow.freelancer_address) == (a.client, a.freelancer)
    assert (eth.escrow.created_tx, eth.escrow.created_block) == (row.tx_hash, row.block_number)
    assert row.escrow == eth.escrow
    assert row.undo["escrow_status"] == "awaiting"
    assert f"created on chain in block {row.block_number}" in activity(eth.contract)[-1]


def test_funded_moves_money_from_outside_into_escrow(eth: Escrowed) -> None:
    created_and_funded(eth, 0)
    (row,) = eth.applied[-1:]
    first = eth.milestone(0)
    assert (row.event, row.status) == ("Funded", APPLIED)
    assert first.status == S.FUNDED
    assert held(first) == 10**18
    assert external("eth") == -(10**18)
    key = f"chain:31337:{row.block_hash}:{row.tx_hash}:{row.log_index}:fund"
    assert row.transfer_keys == [key]
    assert Transfer.objects.get(idempotency_key=key).amount == 10**18
    assert row.undo == {
        "milestone": first.pk,
        "status": "draft",
        "review_deadline": None,
        "submitted_at": None,
    }
    assert activity(eth.contract)[-1] == (
        f"Funded on chain: Ξ1.000000 in block {row.block_number} for “{first.title}”."
    )
    event = MilestoneEvent.objects.filter(milestone=first).last()
    assert event is not None
    assert (event.from_status, event.to_status) == ("draft", "funded")
    assert event.actor == eth.contract.client


def test_submitted_sets_the_contracts_deadline_and_records_an_onchain_submission(
    eth: Escrowed,
) -> None:
    created_and_funded(eth, 0)
    eth.call("submit", 0, DIGEST, sender=eth.rail.accounts.freelancer)
    (row,) = eth.sync()
    first = eth.milestone(0)
    deadline = int(row.args["reviewDeadline"])
    assert first.status == S.SUBMITTED
    assert first.review_deadline == datetime.fromtimestamp(deadline, tz=UTC)
    submission = Submission.objects.get(milestone=first)
    assert (submission.number, submission.message) == (1, "Submitted on chain")
    assert submission.digest == DIGEST.hex()
    assert (submission.anchored_block, submission.anchored_tx) == (row.block_number, row.tx_hash)
    assert submission.submitted_by == eth.contract.freelancer
    assert row.undo["submission_created"] is True
    assert f"anchored in block {row.block_number}" in activity(eth.contract)[-1]


def test_submitted_anchors_the_prepared_submission_with_that_digest(eth: Escrowed) -> None:
    created_and_funded(eth, 0)
    first = eth.milestone(0)
    freelancer = eth.contract.freelancer
    other = Submission.objects.create(
        milestone=first, number=1, message="draft", submitted_by=freelancer, digest="ab" * 32
    )
    prepared = Submission.objects.create(
        milestone=first,
        number=2,
        message="Final designs",
        submitted_by=freelancer,
        digest=DIGEST.hex().upper(),
    )
    eth.call("submit", 0, DIGEST, sender=eth.rail.accounts.freelancer)
    (row,) = eth.sync()
    prepared.refresh_from_db()
    other.refresh_from_db()
    assert (prepared.anchored_block, prepared.anchored_tx) == (row.block_number, row.tx_hash)
    assert other.anchored_block is None
    assert Submission.objects.filter(milestone=first).count() == 2
    assert row.undo["submission"] == prepared.pk
    assert row.undo["submission_created"] is False


def test_revision_request_stops_the_review_clock(eth: Escrowed) -> None:
    created_and_funded(eth, 0)
    a = eth.rail.accounts
    eth.call("submit", 0, DIGEST, sender=a.freelancer)
    eth.call("requestRevision", 0, sender=a.client)
    rows = eth.sync()
    assert [(r.event, r.status) for r in rows] == [
        ("Submitted", APPLIED),
        ("RevisionRequested", APPLIED),
    ]
    first = eth.milestone(0)
    assert first.status == S.FUNDED
    assert first.review_deadline is None
    assert "Revision of" in activity(eth.contract)[-1]


def test_full_release_pays_freelancer_available_and_the_fee(eth: Escrowed) -> None:
    created_and_funded(eth, 0)
    a = eth.rail.accounts
    eth.call("submit", 0, DIGEST, sender=a.freelancer)
    eth.call("release", 0, 10**18, sender=a.client)
    *_, row = eth.sync()
    first = eth.milestone(0)
    assert (row.event, row.status, first.status) == ("Released", APPLIED, S.RELEASED)
    assert held(first) == 0
    assert available(eth.contract.freelancer, "eth") == 9 * 10**17
    assert fees("eth") == 10**17
    assert available(eth.contract.client, "eth") == 0
    assert [key.rsplit(":", 1)[1] for key in row.transfer_keys] == ["release", "fee"]
    assert eth.contract.freelancer.display_name not in activity(eth.contract)[-1]
    assert activity(eth.contract)[-1].startswith(eth.contract.client.display_name + " released")
    # One milestone left unfunded: the contract stays active.
    assert Contract.objects.get(pk=eth.contract.pk).status == Contract.Status.ACTIVE


def test_partial_usdc_release_credits_the_rest_back_to_the_client(usdc: Escrowed) -> None:
    created_and_funded(usdc, 0)
    a = usdc.rail.accounts
    usdc.call("release", 0, 333_337, sender=a.client)  # early: straight from funded
    (row,) = usdc.sync()
    first = usdc.milestone(0)
    fee = 333_337 * 1000 // 10_000
    assert first.status == S.RELEASED
    assert available(usdc.contract.freelancer, "usdc") == 333_337 - fee
    assert fees("usdc") == fee
    assert available(usdc.contract.client, "usdc") == 1_000_001 - 333_337
    assert held(first) == 0
    assert sum(int(row.args[k]) for k in ("freelancerAmount", "fee", "clientRefund")) == 1_000_001
    assert "back to the client" in activity(usdc.contract)[-1]


def test_auto_release_by_anyone_after_the_review_period(usdc: Escrowed) -> None:
    created_and_funded(usdc, 1)
    a = usdc.rail.accounts
    usdc.call("submit", 1, DIGEST, sender=a.freelancer)
    usdc.rail.chain.time_travel(node.review_period_seconds() + DAY)
    usdc.call("autoRelease", 1, sender=a.stranger)
    *_, row = usdc.sync()
    assert (row.event, row.status, row.args["by"]) == ("Released", APPLIED, a.stranger)
    second = usdc.milestone(1)
    assert second.status == S.RELEASED
    assert available(usdc.contract.freelancer, "usdc") == 2_250_000
    assert fees("usdc") == 250_000
    event = MilestoneEvent.objects.filter(milestone=second).last()
    assert event is not None
    assert event.actor is None
    assert activity(usdc.contract)[-1].startswith("The review period ended")


def test_refund_after_a_request_returns_the_escrow_and_completes_the_contract(
    eth: Escrowed,
) -> None:
    created_and_funded(eth, 0, 1)
    a = eth.rail.accounts
    eth.call("requestRefund", 0, sender=a.client)
    eth.call("refund", 0, sender=a.freelancer)
    eth.call("submit", 1, DIGEST, sender=a.freelancer)
    eth.call("refund", 1, sender=a.freelancer)  # the contract allows submitted → refunded
    rows = eth.sync()
    assert [(r.event, r.status) for r in rows] == [
        ("RefundRequested", APPLIED),
        ("Refunded", APPLIED),
        ("Submitted", APPLIED),
        ("Refunded", APPLIED),
    ]
    assert rows[0].transfer_keys == []
    assert rows[0].undo == {"milestone": eth.milestone(0).pk}
    assert [m.status for m in eth.milestones] == [S.REFUNDED, S.REFUNDED]
    assert available(eth.contract.client, "eth") == 3 * 10**18
    assert held(eth.milestone(0)) == held(eth.milestone(1)) == 0
    contract = Contract.objects.get(pk=eth.contract.pk)
    assert contract.status == Contract.Status.COMPLETED
    assert rows[-1].undo["contract_completed"] is True
    assert any("asked on chain" in line for line in activity(eth.contract))


def test_dispute_and_odd_resolution_lose_no_wei(odd: Escrowed) -> None:
    created_and_funded(odd, 0, 1)
    a = odd.rail.accounts
    odd.call("dispute", 1, sender=a.freelancer)
    odd.call("resolve", 1, 3_333, sender=a.arbiter)
    disputed, resolved = odd.sync()
    second = odd.milestone(1)
    assert (disputed.status, resolved.status, second.status) == (APPLIED, APPLIED, S.RESOLVED)
    dispute_event = MilestoneEvent.objects.get(milestone=second, to_status=S.DISPUTED)
    assert dispute_event.actor == odd.contract.freelancer
    total = 300_000_000_000_001
    net, fee, back = (int(resolved.args[k]) for k in ("freelancerAmount", "fee", "clientRefund"))
    assert (net, fee, back) == (89_991_000_000_000, 9_999_000_000_000, 200_010_000_000_001)
    assert available(odd.contract.freelancer, "eth") == net
    assert fees("eth") == fee
    assert available(odd.contract.client, "eth") == back
    legs = Transfer.objects.filter(idempotency_key__in=resolved.transfer_keys)
    assert sum(int(t.amount) for t in legs) == total
    assert held(second) == 0
    assert held(odd.milestone(0)) == 123_456_789_012_345
    assert "33.33 %" in activity(odd.contract)[-1]


def test_resolution_giving_everything_back_moves_one_leg(usdc: Escrowed) -> None:
    created_and_funded(usdc, 0)
    a = usdc.rail.accounts
    usdc.call("dispute", 0, sender=a.client)
    usdc.call("resolve", 0, 0, sender=a.arbiter)
    _, resolved = usdc.sync()
    assert [key.rsplit(":", 1)[1] for key in resolved.transfer_keys] == ["return"]
    assert available(usdc.contract.client, "usdc") == 1_000_001


def test_releasing_every_milestone_completes_the_contract(eth: Escrowed) -> None:
    created_and_funded(eth, 0, 1)
    a = eth.rail.accounts
    eth.call("release", 0, 10**18, sender=a.client)
    eth.call("submit", 1, DIGEST, sender=a.freelancer)
    eth.call("release", 1, 2 * 10**18, sender=a.client)
    rows = eth.sync()
    assert all(r.status == APPLIED for r in rows)
    contract = Contract.objects.get(pk=eth.contract.pk)
    assert contract.status == Contract.Status.COMPLETED
    assert "The contract is complete." in activity(eth.contract)
    assert "contract_completed" not in rows[0].undo
    assert rows[-1].undo["contract_completed"] is True
    # Every wei funded is accounted for: freelancer + fees + client == funded.
    assert available(eth.contract.freelancer, "eth") + fees("eth") == 3 * 10**18
    assert -external("eth") == 3 * 10**18
