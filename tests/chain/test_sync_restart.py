"""A node killed mid-sync and restarted with its chain (anvil ``--state``): the run fails
with ChainUnavailable, committed batches stay, and the next run resumes at the cursor."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from escrow.chain.node import ChainUnavailable
from escrow.chain.sync import SyncReport, sync_chain
from escrow.models import ChainCursor, ChainLog
from tests.chain.agreement import assert_ledger_matches_chain, spread_events
from tests.chain.conftest import ANVIL, MNEMONIC, Accounts, Chain, _free_port
from tests.chain.rail import configure


class StatefulAnvil:
    """An anvil of our own that dumps its chain to ``state`` on SIGTERM and loads it
    again on start, on the same port: a node restart that keeps the chain."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(ANVIL),
                "--port",
                str(self.port),
                "--mnemonic",
                MNEMONIC,
                "--chain-id",
                "31337",
                "--state",
                str(self.state),
                "--silent",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 2}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if w3.eth.chain_id == 31337:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("anvil did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # anvil dumps its state on the way out
            self.process.wait(timeout=10)


@pytest.fixture
def own_anvil(tmp_path: Path) -> Iterator[StatefulAnvil]:
    node = StatefulAnvil(tmp_path / "anvil-state.json")
    node.start()
    yield node
    if node.process is not None and node.process.poll() is None:
        node.process.kill()
        node.process.wait()


def test_a_node_killed_mid_sync_fails_the_run_and_the_next_run_resumes_after_restart(
    db: None, settings: Any, own_anvil: StatefulAnvil
):
    w3 = Web3(Web3.HTTPProvider(own_anvil.url, request_kwargs={"timeout": 5}))
    chain = Chain(w3, Accounts(*list(w3.eth.accounts)[:6]), escrow=None, token=None)  # type: ignore[arg-type]
    chain.escrow = chain.deploy("MilestoneEscrow", chain.accounts.owner)
    chain.token = chain.deploy("TestToken")
    rail = configure(settings, chain, own_anvil.url)
    settings.CHAIN_SYNC_BATCH = 3
    settings.CHAIN_RPC_TIMEOUT_SECONDS = 1
    spread_events(rail, escrows=4)
    head = w3.eth.block_number
    killed_after: list[int] = []

    def kill_the_node_after_the_first_batch(report: SyncReport) -> None:
        if not killed_after:
            killed_after.append(report.blocks_done)
            own_anvil.stop()

    with pytest.raises(ChainUnavailable, match="connection refused"):
        sync_chain(progress=kill_the_node_after_the_first_batch)
    cursor = ChainCursor.objects.get()
    assert cursor.next_block == 3  # the first batch (blocks 0-2) stayed committed
    assert "connection refused" in cursor.last_error
    partial = ChainLog.objects.count()
    assert partial > 0

    with pytest.raises(ChainUnavailable):
        sync_chain()  # still down: nothing changes
    assert ChainLog.objects.count() == partial

    own_anvil.start()
    assert w3.eth.block_number == head  # the restarted node kept its chain
    report = sync_chain()

    assert report.from_block == 3
    assert (report.reorgs, report.duplicates, report.failed) == (0, 0, 0)
    assert ChainCursor.objects.get().last_error == ""
    assert ChainLog.objects.filter(status=ChainLog.Status.APPLIED).count() == 8
    assert_ledger_matches_chain(rail)
