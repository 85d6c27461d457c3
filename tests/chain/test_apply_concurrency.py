"""The same chain log applied from several threads at once (as two sync runs racing
would): the milestone and account locks serialise them, the live-row unique
constraint lets exactly one row win, and its money moves once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from escrow import ledger
from escrow.chain.apply import apply_log
from escrow.models import ChainLog, Transfer
from tests.chain.conftest import DIGEST
from tests.chain.test_apply_support import Escrowed, available, copy_log, escrowed, held

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 6


def race(call: Callable[[], Any], threads: int = THREADS) -> list[Any]:
    """Run ``call`` in ``threads`` threads released together; each result or error."""
    results: list[Any] = [None] * threads
    barrier = threading.Barrier(threads)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # noqa: BLE001 - the test judges every outcome
            results[index] = error
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def apply_as_sync_would(row: ChainLog) -> str:
    """One sync run's step: its own transaction; a twin's live row is a duplicate."""
    mine = copy_log(row)
    try:
        with transaction.atomic():
            apply_log(mine)
    except IntegrityError:
        return "duplicate"
    return str(mine.status)


def setup_funded(e: Escrowed) -> None:
    e.create()
    e.fund(0)
    e.fund(1)
    e.sync()


@pytest.mark.parametrize("event", ["Funded", "Released", "Withdrawn", "Submitted"])
def test_one_of_many_racing_applications_wins_and_money_moves_once(
    chain_rail: Any, event: str
) -> None:
    e = escrowed(chain_rail, "usdc", (1_000_000, 2_000_000))
    a = chain_rail.accounts
    if event == "Funded":
        e.create()
        e.sync()
        e.fund(0)
    else:
        setup_funded(e)
        if event == "Released":
            e.call("release", 0, 700_001, sender=a.client)
        elif event == "Submitted":
            e.call("submit", 0, DIGEST, sender=a.freelancer)
        else:
            e.call("release", 0, 1_000_000, sender=a.client)
            e.sync()
            e.transact(e.rail.escrow.functions.withdraw(e.token, a.freelancer), a.freelancer)
    (row,) = e.new_logs()
    assert row.event == event

    results = race(lambda: apply_as_sync_would(row))

    assert sorted(results) == ["applied"] + ["duplicate"] * (THREADS - 1), results
    live = ChainLog.objects.filter(tx_hash=row.tx_hash, log_index=row.log_index)
    (winner,) = live
    assert winner.status == ChainLog.Status.APPLIED
    for key in winner.transfer_keys:
        assert Transfer.objects.filter(idempotency_key=key).count() == 1
    prefix = f"chain:31337:{row.block_hash}:{row.tx_hash}:{row.log_index}:"
    assert Transfer.objects.filter(idempotency_key__startswith=prefix).count() == len(
        winner.transfer_keys
    )
    assert not ledger.find_problems()
    first = e.milestone(0)
    if event == "Funded":
        assert held(first) == 1_000_000
    if event == "Released":
        assert held(first) == 0
        assert available(e.contract.client, "usdc") == 299_999
    if event == "Withdrawn":
        assert available(e.contract.freelancer, "usdc") == 0
    if event == "Submitted":
        assert first.submissions.count() == 1
