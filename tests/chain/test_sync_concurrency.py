"""Two syncs at once apply every log exactly once: the cursor's row lock and the check
that the cursor is still where a batch was fetched from."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from escrow.chain.sync import SyncReport, sync_chain
from escrow.models import ChainLog
from tests.chain.agreement import RpcProxy, assert_ledger_matches_chain, spread_events
from tests.chain.rail import ChainRail


@pytest.mark.django_db(transaction=True)
def test_a_sync_that_finishes_while_another_waits_for_the_node_applies_each_log_once(
    chain_rail: ChainRail, settings: Any, anvil_url: str
):
    """Sync A asks for its first batch; before the node answers, sync B (another
    thread, its own connection) reads everything. A's batch is then stale: A writes
    nothing and stops at B's cursor."""
    spread_events(chain_rail, escrows=4)
    settings.CHAIN_SYNC_BATCH = 2
    second: list[Any] = []

    def run_the_other_sync_first() -> None:
        if second:
            return
        second.append(None)
        try:
            second[0] = sync_chain()
        finally:
            connection.close()

    node = RpcProxy(anvil_url, before_logs=run_the_other_sync_first)
    settings.CHAIN_RPC_URL = node.url
    try:
        first = sync_chain()
    finally:
        node.close()

    assert isinstance(second[0], SyncReport)
    assert (first.applied, second[0].applied) == (0, 8)
    assert first.batches == 0
    rows = list(ChainLog.objects.values_list("tx_hash", "log_index"))
    assert len(rows) == len(set(rows)) == 9  # with the constructor's OwnershipTransferred
    assert_ledger_matches_chain(chain_rail)


@pytest.mark.postgres  # SQLite's shared in-memory test database locks whole tables
@pytest.mark.django_db(transaction=True)
def test_two_syncs_at_once_apply_every_log_exactly_once(chain_rail: ChainRail, settings: Any):
    spread_events(chain_rail, escrows=4)
    settings.CHAIN_SYNC_BATCH = 2
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = sync_chain()
        except Exception as error:  # noqa: BLE001 - the test judges every outcome
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(isinstance(result, SyncReport) for result in results), results
    assert sum(result.applied for result in results) == 8
    rows = list(ChainLog.objects.values_list("tx_hash", "log_index"))
    assert len(rows) == len(set(rows)) == 9  # with the constructor's OwnershipTransferred
    assert_ledger_matches_chain(chain_rail)
