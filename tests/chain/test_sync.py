"""Chain sync on a real anvil: the cursor, confirmations, batches, checkpoints and
duplicate delivery. Reorgs, faults and the command have their own files."""

from __future__ import annotations

from typing import Any

import pytest

from escrow.chain import sync_batch, sync_reorg
from escrow.chain.node import ChainUnavailable
from escrow.chain.sync import ChainSyncRefused, WrongChain, sync_chain
from escrow.models import (
    ChainCheckpoint,
    ChainCursor,
    ChainDeployment,
    ChainEscrow,
    ChainLog,
    Transfer,
)
from marketplace.models import Milestone
from tests.chain.agreement import assert_ledger_matches_chain, open_escrow
from tests.chain.rail import ChainRail

S = Milestone.Status


def cursor() -> ChainCursor:
    return ChainCursor.objects.get()


def test_without_an_rpc_url_sync_does_nothing_and_says_why(chain_rail: ChainRail, settings: Any):
    settings.CHAIN_RPC_URL = ""
    report = sync_chain()
    assert not report.configured
    assert "CHAIN_RPC_URL" in report.reason
    assert report.counts() == dict.fromkeys(report.COUNTS, 0)
    assert not ChainCursor.objects.exists()


def test_without_a_recorded_deployment_sync_does_nothing(chain_rail: ChainRail):
    ChainDeployment.objects.filter(contract_name="MilestoneEscrow").delete()
    report = sync_chain()
    assert not report.configured
    assert "chain_deploy" in report.reason
    assert not ChainCursor.objects.exists()


def test_a_node_on_another_chain_is_refused_and_nothing_is_written(
    chain_rail: ChainRail, settings: Any
):
    opened = open_escrow(chain_rail)
    chain_rail.chain.fund(opened.onchain_id, 0)
    settings.CHAIN_ID = 1
    ChainDeployment.objects.update(chain_id=1)
    with pytest.raises(WrongChain, match="serves chain 31337, but CHAIN_ID is 1"):
        sync_chain()
    assert not ChainCursor.objects.exists()
    assert not ChainLog.objects.exists()
    assert not Transfer.objects.exists()


def test_eth_and_token_journeys_end_with_the_ledger_equal_to_the_chain(chain_rail: ChainRail):
    eth = open_escrow(chain_rail)
    a = chain_rail.accounts
    functions = chain_rail.escrow.functions
    chain_rail.chain.fund(eth.onchain_id, 0)
    chain_rail.chain.fund(eth.onchain_id, 1)
    chain_rail.chain.submit(eth.onchain_id, 0)
    chain_rail.chain.send(functions.release(eth.onchain_id, 0, 10**18), a.client)
    chain_rail.chain.send(functions.release(eth.onchain_id, 1, 10**18), a.client)  # partial
    chain_rail.chain.send(functions.withdraw(eth.escrow.token, a.freelancer), a.freelancer)

    report = sync_chain()

    # From the deployment block: the constructor's OwnershipTransferred changes nothing.
    assert report.counts() == {
        "batches": 1,
        "logs_seen": 8,
        "applied": 7,
        "ignored": 1,
        "failed": 0,
        "duplicates": 0,
        "rolled_back": 0,
        "reorgs": 0,
    }
    assert [m.status for m in eth.contract.milestones.order_by("position")] == [S.RELEASED] * 2
    assert_ledger_matches_chain(chain_rail)


def test_usdc_escrow_is_synced_like_eth(chain_rail: ChainRail):
    usdc = open_escrow(chain_rail, currency="usdc")
    chain_rail.chain.fund(usdc.onchain_id, 0)
    chain_rail.chain.submit(usdc.onchain_id, 0)
    report = sync_chain()
    assert (report.applied, report.failed) == (3, 0)
    assert usdc.milestone(0).status == S.SUBMITTED
    assert_ledger_matches_chain(chain_rail)


def test_the_cursor_starts_at_the_deployment_block_and_resumes_where_it_stopped(
    chain_rail: ChainRail,
):
    opened = open_escrow(chain_rail)
    first = sync_chain()
    head = chain_rail.w3.eth.block_number
    assert first.from_block == 0  # the deployment block chain_rail records
    assert (first.logs_seen, first.applied, first.ignored) == (2, 1, 1)
    assert cursor().next_block == head + 1
    assert cursor().head_block == head
    assert cursor().last_synced_at is not None

    again = sync_chain()
    assert (again.batches, again.logs_seen) == (0, 0)

    chain_rail.chain.fund(opened.onchain_id, 1)
    later = sync_chain()
    assert later.from_block == head + 1
    assert (later.logs_seen, later.applied) == (1, 1)
    assert opened.milestone(1).status == S.FUNDED
    assert_ledger_matches_chain(chain_rail)


def test_an_event_is_applied_only_once_it_has_enough_confirmations(
    chain_rail: ChainRail, settings: Any
):
    settings.CHAIN_CONFIRMATIONS = 3
    opened = open_escrow(chain_rail)
    chain_rail.mine(3)
    assert sync_chain().applied == 1  # the escrow, three blocks deep

    chain_rail.chain.fund(opened.onchain_id, 0)
    funded_in = chain_rail.w3.eth.block_number
    report = sync_chain()
    assert report.safe_block == funded_in - 3
    assert report.applied == 0
    assert opened.milestone(0).status == S.DRAFT
    assert cursor().next_block == funded_in - 2

    chain_rail.mine(2)
    assert sync_chain().applied == 0
    assert opened.milestone(0).status == S.DRAFT

    chain_rail.mine(1)
    assert sync_chain().applied == 1
    assert opened.milestone(0).status == S.FUNDED
    assert_ledger_matches_chain(chain_rail)


def test_with_use_finalized_sync_reads_only_to_the_finalized_block(
    chain_rail: ChainRail, settings: Any
):
    settings.CHAIN_USE_FINALIZED = True
    settings.CHAIN_CONFIRMATIONS = 0
    chain_rail.mine(64)
    opened = open_escrow(chain_rail)
    created_in = chain_rail.w3.eth.block_number
    finalized = chain_rail.rpc("eth_getBlockByNumber", ["finalized", False])
    report = sync_chain()
    assert report.safe_block == int(finalized["number"], 16) == created_in - 64  # anvil's rule
    assert report.applied == 0
    opened.escrow.refresh_from_db()
    assert opened.escrow.status == ChainEscrow.Status.AWAITING

    chain_rail.mine(64)
    report = sync_chain()
    assert report.safe_block == created_in
    assert report.applied == 1
    opened.escrow.refresh_from_db()
    assert opened.escrow.status == ChainEscrow.Status.CREATED


def test_reading_again_from_an_earlier_block_writes_nothing_new(chain_rail: ChainRail):
    opened = open_escrow(chain_rail)
    chain_rail.chain.fund(opened.onchain_id, 0)
    chain_rail.chain.submit(opened.onchain_id, 0)
    assert sync_chain().applied == 3
    logs, transfers = ChainLog.objects.count(), Transfer.objects.count()
    statuses = list(Milestone.objects.values_list("pk", "status"))

    again = sync_chain(from_block=0)

    assert (again.logs_seen, again.duplicates, again.applied) == (4, 4, 0)
    assert (ChainLog.objects.count(), Transfer.objects.count()) == (logs, transfers)
    assert list(Milestone.objects.values_list("pk", "status")) == statuses
    assert cursor().next_block == chain_rail.w3.eth.block_number + 1
    assert_ledger_matches_chain(chain_rail)


def test_the_cursor_cannot_be_moved_ahead_by_from_block(chain_rail: ChainRail):
    open_escrow(chain_rail)
    sync_chain()
    ahead = cursor().next_block + 5
    with pytest.raises(ChainSyncRefused, match="would skip blocks"):
        sync_chain(from_block=ahead)


def test_to_block_stops_early_and_the_next_run_goes_on(chain_rail: ChainRail):
    opened = open_escrow(chain_rail)
    created_in = chain_rail.w3.eth.block_number
    chain_rail.chain.fund(opened.onchain_id, 0)
    report = sync_chain(to_block=created_in)
    assert (report.to_block, report.applied) == (created_in, 1)
    assert opened.milestone(0).status == S.DRAFT
    assert sync_chain().applied == 1
    assert opened.milestone(0).status == S.FUNDED


def test_batches_follow_the_configured_size_and_store_checkpoints(
    chain_rail: ChainRail, settings: Any
):
    settings.CHAIN_SYNC_BATCH = 4
    opened = open_escrow(chain_rail)
    chain_rail.mine(5)
    chain_rail.chain.fund(opened.onchain_id, 0)
    chain_rail.mine(5)
    chain_rail.chain.fund(opened.onchain_id, 1)
    head = chain_rail.w3.eth.block_number

    report = sync_chain()

    assert report.batches == -(-(head + 1) // 4)  # blocks 0..head in fours
    assert report.applied == 3
    assert cursor().batch_size == 4
    numbers = set(ChainCheckpoint.objects.values_list("block_number", flat=True))
    logged = set(ChainLog.objects.values_list("block_number", flat=True))
    assert logged <= numbers  # every block with logs
    assert {n for n in range(3, head + 1, 4)} | {head} <= numbers  # every batch's last block
    for point in ChainCheckpoint.objects.all():
        assert (
            point.block_hash == chain_rail.w3.eth.get_block(point.block_number)["hash"].to_0x_hex()
        )


def test_old_checkpoints_are_pruned(chain_rail: ChainRail, settings: Any, monkeypatch: Any):
    monkeypatch.setattr(sync_reorg, "KEEP_CHECKPOINTS", 5)
    settings.CHAIN_SYNC_BATCH = 1
    open_escrow(chain_rail)
    chain_rail.mine(10)
    sync_chain()
    head = chain_rail.w3.eth.block_number
    kept = sorted(ChainCheckpoint.objects.values_list("block_number", flat=True))
    assert kept == list(range(head - 4, head + 1))


def test_a_node_that_cannot_be_reached_is_reported_and_kept_on_the_cursor(
    chain_rail: ChainRail, settings: Any
):
    open_escrow(chain_rail)
    sync_chain()
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.CHAIN_RPC_TIMEOUT_SECONDS = 1
    with pytest.raises(ChainUnavailable, match="connection refused") as raised:
        sync_chain()
    assert cursor().last_error == raised.value.detail
    assert "127.0.0.1" not in cursor().last_error  # an RPC URL may carry an API key


def test_a_batch_with_many_logs_commits_in_parts_that_never_split_a_block(
    chain_rail: ChainRail, monkeypatch: Any
):
    monkeypatch.setattr(sync_batch, "MAX_LOGS_PER_COMMIT", 1)
    opened = open_escrow(chain_rail)  # its EscrowCreated sits alone in its block
    chain_rail.rpc("evm_setAutomine", [False])
    try:
        for index in (0, 1):  # both fundings in one block
            milestone = opened.milestone(index)
            chain_rail.rpc(
                "eth_sendTransaction",
                [
                    {
                        "from": chain_rail.accounts.client,
                        "to": chain_rail.escrow.address,
                        "data": chain_rail.escrow.encode_abi(
                            "fund", args=[opened.onchain_id, index]
                        ),
                        "value": hex(int(milestone.amount)),
                    }
                ],
            )
        chain_rail.rpc("evm_mine", [])
    finally:
        chain_rail.rpc("evm_setAutomine", [True])
    funded_in = chain_rail.w3.eth.block_number
    parts: list[tuple[int, int]] = []

    report = sync_chain(progress=lambda r: parts.append((cursor().next_block, r.logs_seen)))

    # Deployment block (1 log), escrow block (1 log), then the two fundings together.
    assert [logs for _, logs in parts] == [1, 2, 4]
    assert parts[-1][0] == funded_in + 1
    assert report.batches == 1
    assert report.applied == 3
    assert_ledger_matches_chain(chain_rail)
