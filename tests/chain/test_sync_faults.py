"""Chain sync against a node that fails the way hosted providers do: range limits and
answers that contradict the request or themselves. The node is always the real anvil;
the failing provider is a small real JSON-RPC proxy in front of it (``RpcProxy``),
never a mock of web3."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from escrow.chain.node import ChainUnavailable
from escrow.chain.sync import sync_chain
from escrow.chain.sync_node import LogsTimedOut, NodeLied
from escrow.models import ChainCursor, ChainLog, Transfer
from tests.chain.agreement import (
    RpcProxy,
    Tamper,
    assert_ledger_matches_chain,
    open_escrow,
    spread_events,
)
from tests.chain.rail import ChainRail


@pytest.fixture
def proxy(anvil_url: str) -> Iterator[Callable[..., RpcProxy]]:
    started: list[RpcProxy] = []

    def start(**options: Any) -> RpcProxy:
        started.append(RpcProxy(anvil_url, **options))
        return started[-1]

    yield start
    for each in started:
        each.close()


# ------------------------------------------------------------------ range limits
@pytest.mark.parametrize(
    "error",
    [
        {"code": -32005, "message": "query returned more than 10000 results"},  # geth, Infura
        {
            "code": -32602,
            "message": "Log response size exceeded. You can make eth_getLogs "
            "requests with up to a 2K block range",
        },  # Alchemy
        {"code": -32000, "message": "exceed maximum block range: 3"},  # BSC, public nodes
    ],
    ids=["too-many-results", "response-size", "max-block-range"],
)
def test_a_node_that_refuses_wide_ranges_makes_the_batch_shrink(
    chain_rail: ChainRail, settings: Any, proxy: Callable[..., RpcProxy], error: dict[str, Any]
):
    spread_events(chain_rail)
    node = proxy(max_range=3, error=error)
    settings.CHAIN_RPC_URL = node.url
    settings.CHAIN_SYNC_BATCH = 64

    report = sync_chain()

    head = chain_rail.w3.eth.block_number
    spans = [high - low + 1 for low, high in node.refused]
    assert spans[:2] == [head + 1, (head + 1) // 2]
    assert max(high - low + 1 for low, high in node.served) == 3
    assert len(node.refused) <= 4  # once narrow enough, it stays below the refused size
    assert (report.applied, report.failed) == (6, 0)
    assert ChainCursor.objects.get().next_block == chain_rail.w3.eth.block_number + 1
    assert_ledger_matches_chain(chain_rail)


def test_a_node_that_refuses_even_one_block_is_unavailable(
    chain_rail: ChainRail, settings: Any, proxy: Callable[..., RpcProxy]
):
    open_escrow(chain_rail)
    settings.CHAIN_RPC_URL = proxy(max_range=0).url
    with pytest.raises(ChainUnavailable, match="even for block 0 alone"):
        sync_chain()
    assert ChainCursor.objects.get().batch_size == 1
    assert not ChainLog.objects.exists()


# ------------------------------------------------------------------ lies
def _move_first_log_past_the_range(logs: list[dict[str, Any]], low: int, high: int) -> Any:
    if logs:
        logs[0]["blockNumber"] = hex(high + 5)
    return logs


def _first_log_from_elsewhere(logs: list[dict[str, Any]], low: int, high: int) -> Any:
    if logs:
        logs[0]["address"] = "0x" + "ab" * 20
    return logs


def _second_hash_for_a_block(logs: list[dict[str, Any]], low: int, high: int) -> Any:
    if len(logs) > 1:
        logs[1]["blockNumber"] = logs[0]["blockNumber"]
        logs[1]["blockHash"] = "0x" + "cd" * 32
    return logs


def _same_log_twice(logs: list[dict[str, Any]], low: int, high: int) -> Any:
    return logs + logs[:1]


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (_move_first_log_past_the_range, "a log of block"),
        (_first_log_from_elsewhere, "another contract"),
        (_second_hash_for_a_block, "two hashes for block"),
        (_same_log_twice, "twice"),
    ],
    ids=["outside-range", "other-contract", "two-hashes", "duplicate"],
)
def test_a_node_that_lies_about_logs_is_refused_and_nothing_is_applied(
    chain_rail: ChainRail,
    settings: Any,
    proxy: Callable[..., RpcProxy],
    tamper: Tamper,
    says: str,
):
    opened = open_escrow(chain_rail)
    chain_rail.chain.fund(opened.onchain_id, 0)
    settings.CHAIN_RPC_URL = proxy(tamper=tamper).url
    with pytest.raises(NodeLied, match=says):
        sync_chain()
    assert not ChainLog.objects.exists()
    assert not Transfer.objects.exists()
    assert says in ChainCursor.objects.get().last_error

    settings.CHAIN_RPC_URL = proxy().url  # an honest node again
    assert sync_chain().applied == 2
    assert ChainCursor.objects.get().last_error == ""
    assert_ledger_matches_chain(chain_rail)


def test_a_node_that_times_out_on_logs_is_unavailable_and_the_batch_halves(
    chain_rail: ChainRail, settings: Any, proxy: Callable[..., RpcProxy]
):
    open_escrow(chain_rail)
    settings.CHAIN_SYNC_BATCH = 64
    settings.CHAIN_RPC_TIMEOUT_SECONDS = 0.2
    settings.CHAIN_RPC_URL = proxy(before_logs=lambda: time.sleep(0.5)).url
    with pytest.raises(LogsTimedOut, match="timed out on eth_getLogs"):
        sync_chain()
    cursor = ChainCursor.objects.get()
    head = chain_rail.w3.eth.block_number
    assert cursor.batch_size == (head + 1) // 2  # the next run asks for less
    assert "timed out" in cursor.last_error
    assert not ChainLog.objects.exists()
