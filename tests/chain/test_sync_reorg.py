"""Reorgs on a real anvil (``anvil_reorg``, ``evm_snapshot``/``evm_revert``) at depths 1,
3 and beyond the confirmation depth: after the next sync the ledger equals the chain,
and every orphaned log is rolled back with reversing transfers."""

from __future__ import annotations

from typing import Any

from escrow.chain.sync import sync_chain
from escrow.models import ChainCursor, ChainLog, Transfer
from marketplace.models import Milestone
from tests.chain.agreement import (
    OpenEscrow,
    RpcProxy,
    assert_ledger_matches_chain,
    open_escrow,
)
from tests.chain.rail import ChainRail

S = Milestone.Status
ROLLED_BACK = ChainLog.Status.ROLLED_BACK


def fund_tx(rail: ChainRail, opened: OpenEscrow, index: int) -> dict[str, Any]:
    """``fund`` from the client's wallet as transaction JSON for ``anvil_reorg``."""
    amount = int(opened.milestone(index).amount)
    return {
        "from": rail.accounts.client,
        "to": rail.escrow.address,
        "data": rail.escrow.encode_abi("fund", args=[opened.onchain_id, index]),
        "value": hex(amount),
    }


def assert_rolled_back_with_reversals(events: list[str]) -> None:
    """The orphaned logs are kept as rolled back, and each transfer they wrote has its
    reversal (destination back to source, same amount)."""
    orphaned = ChainLog.objects.filter(status=ROLLED_BACK).order_by("block_number", "log_index")
    assert [row.event for row in orphaned] == events
    for row in orphaned:
        assert row.rolled_back_at is not None
        for key in row.transfer_keys:
            original = Transfer.objects.get(idempotency_key=key)
            reversal = Transfer.objects.get(idempotency_key=f"reorg:{key}")
            assert (reversal.source_id, reversal.destination_id, reversal.amount) == (
                original.destination_id,
                original.source_id,
                original.amount,
            )


def test_a_one_block_reorg_that_drops_a_funding_rolls_it_back(chain_rail: ChainRail):
    opened = open_escrow(chain_rail)
    chain_rail.chain.fund(opened.onchain_id, 0)
    assert sync_chain().applied == 2
    assert opened.milestone(0).status == S.FUNDED

    chain_rail.rpc("anvil_reorg", [1, []])
    assert chain_rail.chain.status(opened.onchain_id, 0) == "Unfunded"
    report = sync_chain()

    assert (report.reorgs, report.rolled_back, report.applied) == (1, 1, 0)
    assert opened.milestone(0).status == S.DRAFT
    assert_rolled_back_with_reversals(["Funded"])
    assert_ledger_matches_chain(chain_rail)


def test_a_three_block_reorg_with_other_transactions_is_followed(chain_rail: ChainRail):
    opened = open_escrow(chain_rail)
    chain_rail.mine(1)
    chain_rail.chain.fund(opened.onchain_id, 0)
    chain_rail.chain.submit(opened.onchain_id, 0)
    chain_rail.chain.fund(opened.onchain_id, 1)
    assert sync_chain().applied == 4
    old_head = chain_rail.w3.eth.get_block("latest")

    # The new branch: milestone 1 funded first, then milestone 0; nothing submitted.
    replacing = [[fund_tx(chain_rail, opened, 1), 0], [fund_tx(chain_rail, opened, 0), 2]]
    chain_rail.rpc("anvil_reorg", [3, replacing])
    new_head = chain_rail.w3.eth.get_block("latest")
    assert new_head["number"] == old_head["number"]
    assert new_head["hash"] != old_head["hash"]

    report = sync_chain()

    assert (report.reorgs, report.rolled_back, report.applied) == (1, 3, 2)
    assert [opened.milestone(i).status for i in (0, 1)] == [S.FUNDED, S.FUNDED]
    assert_rolled_back_with_reversals(["Funded", "Submitted", "Funded"])
    assert ChainLog.objects.exclude(status=ROLLED_BACK).filter(event="Funded").count() == 2
    assert_ledger_matches_chain(chain_rail)


def test_evm_revert_to_a_snapshot_and_other_transactions_replace_what_was_read(
    chain_rail: ChainRail,
):
    opened = open_escrow(chain_rail)
    snapshot = chain_rail.rpc("evm_snapshot", [])
    chain_rail.chain.fund(opened.onchain_id, 0)
    chain_rail.chain.submit(opened.onchain_id, 0)
    assert sync_chain().applied == 3

    assert chain_rail.rpc("evm_revert", [snapshot]) is True
    chain_rail.chain.fund(opened.onchain_id, 1)
    chain_rail.mine(1)  # the new branch reaches the old height with other blocks

    report = sync_chain()

    assert (report.reorgs, report.rolled_back, report.applied) == (1, 2, 1)
    assert [opened.milestone(i).status for i in (0, 1)] == [S.DRAFT, S.FUNDED]
    assert_rolled_back_with_reversals(["Funded", "Submitted"])
    assert_ledger_matches_chain(chain_rail)


def test_a_chain_that_became_shorter_than_the_cursor_is_rolled_back(chain_rail: ChainRail):
    opened = open_escrow(chain_rail)
    snapshot = chain_rail.rpc("evm_snapshot", [])
    chain_rail.chain.fund(opened.onchain_id, 0)
    chain_rail.mine(3)
    sync_chain()
    cursor_was = ChainCursor.objects.get().next_block

    assert chain_rail.rpc("evm_revert", [snapshot]) is True
    head = chain_rail.w3.eth.block_number
    assert head < cursor_was - 1

    report = sync_chain()

    assert (report.reorgs, report.rolled_back) == (1, 1)
    assert ChainCursor.objects.get().next_block == head + 1
    assert opened.milestone(0).status == S.DRAFT
    assert_ledger_matches_chain(chain_rail)


def test_a_reorg_deeper_than_the_confirmation_depth_is_undone_after_it_was_applied(
    chain_rail: ChainRail, settings: Any
):
    settings.CHAIN_CONFIRMATIONS = 2
    a = chain_rail.accounts
    opened = open_escrow(chain_rail)
    chain_rail.mine(2)
    chain_rail.chain.fund(opened.onchain_id, 0)
    chain_rail.chain.fund(opened.onchain_id, 1)
    chain_rail.chain.send(
        chain_rail.escrow.functions.release(opened.onchain_id, 0, 10**18), a.client
    )
    chain_rail.chain.send(
        chain_rail.escrow.functions.withdraw(opened.escrow.token, a.freelancer), a.freelancer
    )
    chain_rail.mine(2)
    assert sync_chain().applied == 5  # created, 2 funded, released, withdrawn: all confirmed
    assert opened.milestone(0).status == S.RELEASED

    # Five blocks deep (> 2 confirmations): the released and withdrawn money never was.
    chain_rail.rpc("anvil_reorg", [5, [[fund_tx(chain_rail, opened, 1), 4]]])
    assert chain_rail.chain.status(opened.onchain_id, 0) == "Funded"
    report = sync_chain()

    assert (report.reorgs, report.rolled_back) == (1, 3)
    assert report.applied == 0  # the new branch's funding is not two blocks deep yet
    assert_rolled_back_with_reversals(["Funded", "Released", "Withdrawn"])
    assert [opened.milestone(i).status for i in (0, 1)] == [S.FUNDED, S.DRAFT]

    chain_rail.mine(2)
    assert sync_chain().applied == 1
    assert [opened.milestone(i).status for i in (0, 1)] == [S.FUNDED, S.FUNDED]
    assert_ledger_matches_chain(chain_rail)


def same_funding_block(rail: ChainRail, opened: OpenEscrow, moment: int) -> None:
    """Fund milestone 0 in a block that comes out identical each time (time, fees)."""
    rail.rpc("evm_setNextBlockTimestamp", [moment])
    rail.rpc("anvil_setNextBlockBaseFeePerGas", [hex(10**9)])
    tx = fund_tx(rail, opened, 0)
    tx.update(maxFeePerGas=hex(2 * 10**9), maxPriorityFeePerGas="0x1", gas=hex(300_000))
    receipt = rail.w3.eth.wait_for_transaction_receipt(rail.rpc("eth_sendTransaction", [tx]))
    assert receipt["status"] == 1


def test_a_log_shown_again_in_the_same_block_after_a_flip_back_is_new_money(
    chain_rail: ChainRail,
):
    """Branch A, then B, then A again (same block hash): the second A is applied anew."""
    opened = open_escrow(chain_rail)
    moment = chain_rail.chain.now() + 100
    branch_point = chain_rail.rpc("evm_snapshot", [])
    same_funding_block(chain_rail, opened, moment)
    first_hash = chain_rail.w3.eth.get_block("latest")["hash"]
    assert sync_chain().applied == 2

    assert chain_rail.rpc("evm_revert", [branch_point]) is True
    branch_point = chain_rail.rpc("evm_snapshot", [])
    chain_rail.mine(1)  # branch B: an empty block
    assert sync_chain().rolled_back == 1
    assert opened.milestone(0).status == S.DRAFT

    assert chain_rail.rpc("evm_revert", [branch_point]) is True
    same_funding_block(chain_rail, opened, moment)  # branch A again
    assert chain_rail.w3.eth.get_block("latest")["hash"] == first_hash

    report = sync_chain()

    assert (report.applied, report.duplicates) == (1, 0)
    assert opened.milestone(0).status == S.FUNDED
    assert_ledger_matches_chain(chain_rail)


def test_re_reading_from_an_earlier_block_notices_a_reorg_above_it(chain_rail: ChainRail):
    """With --from-block 0 there is no remembered block below to compare: the batch
    itself shows the live funding's block now has another hash."""
    opened = open_escrow(chain_rail)
    chain_rail.chain.fund(opened.onchain_id, 0)
    assert sync_chain().applied == 2
    chain_rail.rpc("anvil_reorg", [1, [[fund_tx(chain_rail, opened, 1), 0]]])

    report = sync_chain(from_block=0)

    assert (report.reorgs, report.rolled_back, report.applied) == (1, 1, 1)
    assert [opened.milestone(i).status for i in (0, 1)] == [S.DRAFT, S.FUNDED]
    assert_rolled_back_with_reversals(["Funded"])
    assert_ledger_matches_chain(chain_rail)


def test_a_reorg_while_a_run_is_reading_is_caught_before_its_next_batch(
    chain_rail: ChainRail, settings: Any, anvil_url: str
):
    opened = open_escrow(chain_rail)
    chain_rail.chain.fund(opened.onchain_id, 0)
    chain_rail.chain.submit(opened.onchain_id, 0)
    chain_rail.chain.fund(opened.onchain_id, 1)
    chain_rail.mine(2)
    head = chain_rail.w3.eth.block_number
    settings.CHAIN_SYNC_BATCH = 2
    asked: list[int] = []

    def reorg_on_the_last_batch() -> None:
        asked.append(1)
        if len(asked) == -(-(head + 1) // 2):  # the run's last eth_getLogs
            # The new branch keeps milestone 0's funding only.
            chain_rail.rpc("anvil_reorg", [4, []])

    node = RpcProxy(anvil_url, before_logs=reorg_on_the_last_batch)
    settings.CHAIN_RPC_URL = node.url
    try:
        report = sync_chain()
    finally:
        node.close()

    assert report.reorgs >= 1
    assert chain_rail.chain.status(opened.onchain_id, 1) == "Unfunded"
    assert [opened.milestone(i).status for i in (0, 1)] == [S.FUNDED, S.DRAFT]
    assert_ledger_matches_chain(chain_rail)
    settings.CHAIN_RPC_URL = anvil_url
    assert sync_chain().counts()["applied"] == 0  # nothing left over for the next run
