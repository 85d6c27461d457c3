"""The doors to chain sync: ``manage.py chain_sync`` (progress, summary, exit codes), the
beat task ``escrow.chain_sync`` and its schedule entry."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError

from escrow.models import ChainDeployment
from escrow.tasks_chain import chain_sync_task
from smartpay.errors import DomainError
from smartpay.models import PeriodicRun
from smartpay.schedule import ENTRIES
from tests.chain.agreement import open_escrow
from tests.chain.rail import ChainRail

ROOT = Path(__file__).resolve().parents[2]


def run_command(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("chain_sync", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_prints_a_line_per_batch_and_a_summary(chain_rail: ChainRail, settings: Any):
    settings.CHAIN_SYNC_BATCH = 4
    opened = open_escrow(chain_rail)
    chain_rail.chain.fund(opened.onchain_id, 0)
    chain_rail.mine(3)
    head = chain_rail.w3.eth.block_number
    total = head + 1

    out, err = run_command()

    lines = out.splitlines()
    batches = [line for line in lines if line.startswith("blocks ")]
    assert len(batches) == -(-total // 4)
    assert batches[0].startswith(f"blocks 4/{total} (")
    assert batches[-1].startswith(f"blocks {total}/{total} (100%), 3 event(s), ")
    assert batches[-1].endswith(" events/s")
    assert f"Read blocks 0-{head} of chain 31337 (head {head}, safe {head})" in out
    assert "3 event(s): 2 applied, 1 ignored, 0 failed, 0 already stored; 0 reorg(s)" in out
    assert lines[-1] == "Chain sync done."
    assert err == ""


def test_a_second_run_says_there_is_nothing_new(chain_rail: ChainRail):
    open_escrow(chain_rail)
    run_command()
    out, _ = run_command()
    head = chain_rail.w3.eth.block_number
    assert f"Nothing new: chain 31337 is read up to the safe block {head} (head {head})." in out


def test_from_block_reads_again_and_reports_what_was_already_stored(chain_rail: ChainRail):
    opened = open_escrow(chain_rail)
    chain_rail.chain.fund(opened.onchain_id, 0)
    run_command()
    out, _ = run_command("--from-block", "0")
    assert "3 event(s): 0 applied, 0 ignored, 0 failed, 3 already stored" in out


def test_a_reorg_shows_in_the_summary(chain_rail: ChainRail):
    opened = open_escrow(chain_rail)
    chain_rail.chain.fund(opened.onchain_id, 0)
    run_command()
    chain_rail.rpc("anvil_reorg", [1, []])
    out, _ = run_command()
    assert "1 reorg(s), 1 rolled back." in out


def test_without_an_rpc_url_the_command_exits_1_and_says_so():
    env = {**os.environ, "CHAIN_RPC_URL": "", "DJANGO_SETTINGS_MODULE": "smartpay.settings"}
    done = subprocess.run(
        [sys.executable, "manage.py", "chain_sync"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Chain sync did nothing: The chain rail is not configured: CHAIN_RPC_URL is empty." in (
        done.stderr
    )


def test_without_a_deployment_the_command_fails_and_names_the_fix(chain_rail: ChainRail):
    ChainDeployment.objects.filter(contract_name="MilestoneEscrow").delete()
    with pytest.raises(CommandError, match=r"run `manage\.py chain_deploy`"):
        run_command()


def test_a_node_that_is_down_fails_the_command(chain_rail: ChainRail, settings: Any):
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"
    with pytest.raises(CommandError, match="Chain sync stopped: The Ethereum node failed"):
        run_command()


def test_from_block_ahead_of_the_cursor_is_refused(chain_rail: ChainRail):
    open_escrow(chain_rail)
    run_command()
    with pytest.raises(CommandError, match="would skip blocks"):
        run_command("--from-block", "100000")
    with pytest.raises(CommandError, match="--from-block must be a block number"):
        run_command("--from-block", "-1")


def test_the_command_does_not_run_beside_another_sync(chain_rail: ChainRail):
    cache.add("periodic-lock:escrow-chain-sync", "someone", 60)
    with pytest.raises(CommandError, match="Another chain sync is running"):
        run_command()


# ------------------------------------------------------------------ the task
def test_the_task_syncs_and_returns_its_counts(chain_rail: ChainRail):
    opened = open_escrow(chain_rail)
    chain_rail.chain.fund(opened.onchain_id, 0)
    counts = chain_sync_task()
    assert counts is not None
    assert (counts["applied"], counts["ignored"], counts["batches"]) == (2, 1, 1)
    record = PeriodicRun.objects.get(name="escrow-chain-sync")
    assert record.last_summary == "logs_seen 3, applied 2, ignored 1"
    assert chain_sync_task() == dict.fromkeys(counts, 0)
    record.refresh_from_db()
    assert record.last_summary == "nothing to do"  # nothing new: a quiet log line


def test_the_task_is_a_no_op_without_the_chain_rail(db: None, settings: Any):
    settings.CHAIN_RPC_URL = ""
    assert chain_sync_task() is None


def test_the_task_logs_an_unavailable_node_and_returns_none(
    chain_rail: ChainRail, settings: Any, caplog: pytest.LogCaptureFixture
):
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"
    with caplog.at_level(logging.WARNING, logger="escrow.tasks_chain"):
        assert chain_sync_task() is None
    assert "chain sync: The Ethereum node failed eth_chainId" in caplog.text


def test_the_task_skips_while_another_run_holds_the_lock(chain_rail: ChainRail):
    open_escrow(chain_rail)
    cache.add("periodic-lock:escrow-chain-sync", "someone", 60)
    assert chain_sync_task() is None


def test_beat_runs_chain_sync_every_interval_and_drops_stale_ticks(settings: Any):
    entry = next(entry for entry in ENTRIES if entry.task == "escrow.chain_sync")
    assert entry.every_seconds == settings.CHAIN_SYNC_INTERVAL_SECONDS
    assert entry.expire_seconds is not None
    assert 0 < entry.expire_seconds < entry.every_seconds
    assert chain_sync_task.soft_time_limit is not None
    assert chain_sync_task.time_limit is not None
    assert chain_sync_task.soft_time_limit < chain_sync_task.time_limit


def test_the_task_stops_with_words_when_a_reorg_cannot_be_rolled_back(
    chain_rail: ChainRail, caplog: pytest.LogCaptureFixture
):
    from escrow import ledger
    from escrow.models import ChainCursor, LedgerAccount

    opened = open_escrow(chain_rail)
    chain_rail.chain.fund(opened.onchain_id, 0)
    assert chain_sync_task() is not None
    # Staff moved the escrowed money away by hand: the funding can no longer be undone.
    milestone = opened.milestone(0)
    ledger.move(
        source=ledger.escrow_account(milestone),
        destination=ledger.user_account(
            opened.contract.client, LedgerAccount.Kind.AVAILABLE, opened.contract.currency
        ),
        amount=int(milestone.amount),
        key="test:staff-correction",
    )
    chain_rail.rpc("anvil_reorg", [1, []])
    with caplog.at_level(logging.ERROR, logger="escrow.tasks_chain"), pytest.raises(DomainError):
        chain_sync_task()
    assert "chain sync stopped, staff must act" in caplog.text
    assert ChainCursor.objects.get().last_error
    # Recorded as a failed run, so /readyz and the admin show the task overdue.
    run = PeriodicRun.objects.get(name="escrow-chain-sync")
    assert run.failures == 1
    assert "does not hold enough money" in run.last_error
