"""Rolling applied logs back after a reorg restores the ledger, milestones, submissions,
contracts and escrows exactly; rolling back twice does nothing; a log applied again
is new money; a replayed cause writes none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from escrow import ledger
from escrow.chain.apply import apply_log, rollback_log
from escrow.chain.terms import REKEY_STRIDE
from escrow.models import ChainEscrow, ChainLog, Transfer
from marketplace.models import Contract, ContractActivity, MilestoneEvent, Submission
from tests.chain.conftest import DIGEST
from tests.chain.test_apply_support import (
    Escrowed,
    S,
    available,
    copy_log,
    escrowed,
    history,
    snapshot,
)

ROLLED_BACK = ChainLog.Status.ROLLED_BACK
Step = Callable[[Escrowed], None]


def nothing(e: Escrowed) -> None:
    """No preparation: the escrow is still waiting to be created."""


def created(e: Escrowed) -> None:
    e.create()


def funded(e: Escrowed) -> None:
    e.create()
    e.fund(0)
    e.fund(1)


def submitted(e: Escrowed) -> None:
    funded(e)
    e.call("submit", 0, DIGEST, sender=e.rail.accounts.freelancer)


def prepared_submission(e: Escrowed) -> None:
    funded(e)
    Submission.objects.create(
        milestone=e.milestone(0),
        number=1,
        message="Logo files",
        submitted_by=e.contract.freelancer,
        digest=DIGEST.hex(),
    )


def released_both(e: Escrowed) -> None:
    funded(e)
    e.call("release", 0, 10**6, sender=e.rail.accounts.client)
    e.call("release", 1, 2 * 10**6, sender=e.rail.accounts.client)


def disputed(e: Escrowed) -> None:
    funded(e)
    e.call("dispute", 1, sender=e.rail.accounts.client)


def caller(name: str, *args: Any, who: str) -> Step:
    def step(e: Escrowed) -> None:
        e.call(name, *args, sender=getattr(e.rail.accounts, who))

    return step


def withdraw_all(who: str) -> Step:
    def step(e: Escrowed) -> None:
        sender = getattr(e.rail.accounts, who)
        e.transact(e.rail.escrow.functions.withdraw(e.token, sender), sender)

    return step


def release_both_partly(e: Escrowed) -> None:
    caller("release", 0, 10**6, who="client")(e)
    caller("release", 1, 7, who="client")(e)


def squat(e: Escrowed) -> None:
    e.create(sender=e.rail.accounts.stranger)


# (before, then the events rolled back) — every handler at least once.
SCENARIOS: dict[str, tuple[Step, Step]] = {
    "EscrowCreated accepted": (nothing, created),
    "EscrowCreated squatted and re-keyed": (nothing, squat),
    "Funded": (created, lambda e: e.fund(0)),
    "Submitted, submission made on chain": (funded, caller("submit", 0, DIGEST, who="freelancer")),
    "Submitted, prepared submission": (
        prepared_submission,
        caller("submit", 0, DIGEST, who="freelancer"),
    ),
    "RevisionRequested": (submitted, caller("requestRevision", 0, who="client")),
    "RefundRequested": (funded, caller("requestRefund", 0, who="client")),
    "Disputed": (funded, caller("dispute", 0, who="freelancer")),
    "Released partly": (submitted, caller("release", 0, 333_333, who="client")),
    "Resolved": (disputed, caller("resolve", 1, 6_667, who="arbiter")),
    "Refunded": (submitted, caller("refund", 0, who="freelancer")),
    "Released, completing the contract": (funded, release_both_partly),
    "Withdrawn": (released_both, withdraw_all("freelancer")),
    "Withdrawn by the treasury": (released_both, withdraw_all("treasury")),
}


@pytest.fixture
def usdc(chain_rail: Any) -> Escrowed:
    return escrowed(chain_rail, "usdc", (10**6, 2 * 10**6))


@pytest.mark.parametrize("name", SCENARIOS)
def test_rollback_restores_everything_the_events_changed(usdc: Escrowed, name: str) -> None:
    before_step, events = SCENARIOS[name]
    before_step(usdc)
    usdc.sync()
    before = snapshot()
    counted = history()
    events(usdc)
    rows = usdc.sync()
    assert rows
    assert all(r.status in (ChainLog.Status.APPLIED, ChainLog.Status.IGNORED) for r in rows)
    assert (snapshot(), history()) != (before, counted), "the events changed nothing"
    moved = sum(len(r.transfer_keys) for r in rows)

    for row in reversed(rows):
        with transaction.atomic():
            rollback_log(row)

    assert snapshot() == before
    for row in rows:
        row.refresh_from_db()
        assert row.status == ROLLED_BACK
        assert row.rolled_back_at is not None
    after = history()
    # Money is answered, never erased: one reversing transfer per transfer.
    assert after["transfers"] == counted["transfers"] + 2 * moved
    assert not ledger.find_problems()
    for key in (k for r in rows for k in r.transfer_keys):
        original = Transfer.objects.get(idempotency_key=key)
        reversal = Transfer.objects.get(idempotency_key=f"reorg:{key}")
        assert (reversal.source, reversal.destination, reversal.amount) == (
            original.destination,
            original.source,
            original.amount,
        )
    reorg_entries = ContractActivity.objects.filter(contract=usdc.contract, verb="chain_reorg")
    assert reorg_entries.count() == sum(1 for r in rows if r.undo)
    touched = {r.undo.get("milestone") for r in rows if "status" in r.undo}
    for milestone_id in touched:
        last = MilestoneEvent.objects.filter(milestone_id=milestone_id).last()
        assert last is not None
        assert last.note == "rolled back: chain reorg"


def test_rolling_back_a_whole_journey_leaves_nothing(usdc: Escrowed) -> None:
    before = snapshot()
    released_both(usdc)
    withdraw_all("freelancer")(usdc)
    withdraw_all("treasury")(usdc)
    rows = usdc.sync()
    assert len(rows) == 7
    assert Contract.objects.get(pk=usdc.contract.pk).status == Contract.Status.COMPLETED
    usdc.rollback_all()
    assert snapshot() == before
    assert Contract.objects.get(pk=usdc.contract.pk).status == Contract.Status.ACTIVE
    assert ChainEscrow.objects.get(pk=usdc.escrow.pk).status == ChainEscrow.Status.AWAITING
    assert [m.status for m in usdc.milestones] == [S.DRAFT, S.DRAFT]


def test_rolling_back_twice_does_nothing(usdc: Escrowed) -> None:
    funded(usdc)
    *_, row = usdc.sync()
    rollback_log(row)
    counted, state = history(), snapshot()
    rollback_log(row)
    assert (history(), snapshot()) == (counted, state)
    assert row.status == ROLLED_BACK


def test_ignored_and_failed_rows_just_become_rolled_back(usdc: Escrowed) -> None:
    usdc.create(contract_id=424_242)  # not ours: ignored
    created(usdc)
    usdc.fund(0)
    ignored, _, fund_row = usdc.sync()
    assert ignored.status == ChainLog.Status.IGNORED
    # The same Funded under another identity: the milestone is funded already.
    failing = copy_log(fund_row, tx_hash="0x" + "ab" * 32, log_index=9)
    apply_log(failing)
    assert failing.status == ChainLog.Status.FAILED
    state, counted = snapshot(), history()
    rollback_log(failing)
    rollback_log(ignored)
    assert (snapshot(), history()) == (state, counted)
    assert {failing.status, ignored.status} == {ROLLED_BACK}


def test_the_same_log_applied_again_after_a_rollback_is_new_money(usdc: Escrowed) -> None:
    """A node that showed a block, then another, then the first again: the log is live
    again and its money must move again, under fresh keys."""
    funded(usdc)
    rows = usdc.sync()
    fund_row = rows[-1]
    first_key = fund_row.transfer_keys[0]
    client_before = available(usdc.contract.client, "usdc")
    for attempt in (1, 2):
        rollback_log(fund_row)
        assert usdc.milestone(1).status == S.DRAFT
        again = copy_log(fund_row)
        apply_log(again)
        assert again.status == ChainLog.Status.APPLIED
        assert again.transfer_keys == [f"{first_key}:again{attempt}"]
        assert usdc.milestone(1).status == S.FUNDED
        assert ledger.escrow_account(usdc.milestone(1)).balance == 2 * 10**6
        fund_row = again
    assert available(usdc.contract.client, "usdc") == client_before
    assert not ledger.find_problems()


def test_a_replayed_withdrawal_moves_no_new_money(usdc: Escrowed) -> None:
    released_both(usdc)
    usdc.sync()
    # The freelancer's credit includes money from outside, so the first application
    # brought a shortfall in; the replay must not bring it in again.
    ledger.move(
        source=ledger.user_account(usdc.contract.freelancer, "available", "usdc"),
        destination=ledger.external_account("chain", "usdc"),
        amount=5,
        key="test:spent-elsewhere",
    )
    withdraw_all("freelancer")(usdc)
    (row,) = usdc.sync()
    assert [k.rsplit(":", 1)[1] for k in row.transfer_keys] == ["shortfall", "withdraw"]
    state, counted = snapshot(), history()
    ChainLog.objects.filter(pk=row.pk).delete()
    replay = copy_log(row)
    apply_log(replay)
    assert replay.status == ChainLog.Status.APPLIED
    assert replay.transfer_keys == row.transfer_keys
    assert (snapshot(), history()["transfers"]) == (state, counted["transfers"])


def test_a_replayed_funding_writes_no_money_and_fails_loudly(usdc: Escrowed) -> None:
    funded(usdc)
    *_, row = usdc.sync()
    ChainLog.objects.filter(pk=row.pk).delete()
    counted = history()
    replay = copy_log(row)
    apply_log(replay)
    assert replay.status == ChainLog.Status.FAILED
    assert history() == counted


def test_rolling_back_a_rekey_gives_the_contract_its_id_back(usdc: Escrowed) -> None:
    squat(usdc)
    (row,) = usdc.sync()
    assert ChainEscrow.objects.filter(
        pk=usdc.escrow.pk, onchain_id=usdc.contract.pk + REKEY_STRIDE
    ).exists()
    rollback_log(row)
    usdc.escrow.refresh_from_db()
    assert int(usdc.escrow.onchain_id) == usdc.contract.pk
    assert usdc.escrow.rejected_ids == []
    assert usdc.escrow.status == ChainEscrow.Status.AWAITING
