"""Decoding MilestoneEscrow logs from a real anvil into unsaved ChainLog rows."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from escrow.chain import events
from escrow.chain.events import to_chain_log
from tests.chain.conftest import DIGEST, ETH, FEE_BPS, REVIEW_PERIOD, Chain

CHAIN_ID = 31337


def logs_since(chain: Chain, block: int) -> list[Any]:
    return list(
        chain.w3.eth.get_logs(
            {"address": chain.escrow.address, "fromBlock": block, "toBlock": "latest"}
        )
    )


def decoded(chain: Chain, block: int) -> list[Any]:
    return [to_chain_log(raw, CHAIN_ID) for raw in logs_since(chain, block)]


def test_every_escrow_event_decodes_with_json_safe_arguments(chain: Chain) -> None:
    a = chain.accounts
    start = chain.w3.eth.block_number + 1
    cid = chain.create([10**18, 5, 7, 9])
    chain.fund(cid, 0)
    chain.submit(cid, 0)
    chain.send(chain.escrow.functions.requestRevision(cid, 0), a.client)
    chain.submit(cid, 0)
    chain.send(chain.escrow.functions.release(cid, 0, 10**18 - 3), a.client)
    chain.fund(cid, 1)
    chain.send(chain.escrow.functions.requestRefund(cid, 1), a.client)
    chain.send(chain.escrow.functions.refund(cid, 1), a.freelancer)
    chain.fund(cid, 2)
    chain.dispute(cid, 2, by=a.freelancer)
    chain.send(chain.escrow.functions.resolve(cid, 2, 3_333), a.arbiter)
    chain.send(chain.escrow.functions.withdraw(ETH, a.client), a.client)

    rows = decoded(chain, start)
    names = [row.event for row in rows]
    assert names == [
        "EscrowCreated",
        "Funded",
        "Submitted",
        "RevisionRequested",
        "Submitted",
        "Released",
        "Funded",
        "RefundRequested",
        "Refunded",
        "Funded",
        "Disputed",
        "Resolved",
        "Withdrawn",
    ]
    created = rows[0]
    assert created.args == {
        "contractId": str(cid),
        "client": a.client,
        "freelancer": a.freelancer,
        "arbiter": a.arbiter,
        "token": ETH,
        "treasury": a.treasury,
        "amounts": [str(10**18), "5", "7", "9"],
        "reviewPeriod": str(REVIEW_PERIOD),
        "feeBps": str(FEE_BPS),
    }
    submitted = rows[2]
    assert submitted.args["deliverable"] == "0x" + DIGEST.hex()
    assert int(submitted.args["reviewDeadline"]) > REVIEW_PERIOD
    released = rows[5]
    fee = (10**18 - 3) * FEE_BPS // 10_000
    assert released.args == {
        "contractId": str(cid),
        "milestone": "0",
        "by": a.client,
        "freelancerAmount": str(10**18 - 3 - fee),
        "fee": str(fee),
        "clientRefund": "3",
    }
    resolved = rows[11]
    assert resolved.args["freelancerBps"] == "3333"
    parts = [int(resolved.args[k]) for k in ("freelancerAmount", "fee", "clientRefund")]
    assert sum(parts) == 7
    assert rows[12].args == {
        "account": a.client,
        "token": ETH,
        "to": a.client,
        "amount": str(3 + 5 + parts[2]),  # partial release, refund, resolution
    }
    assert rows[10].args["by"] == a.freelancer


def test_log_identity_is_hex_and_unsaved(chain: Chain) -> None:
    start = chain.w3.eth.block_number + 1
    cid = chain.create([3])
    receipt = chain.fund(cid, 0)
    raw = logs_since(chain, start)[-1]
    row = to_chain_log(raw, CHAIN_ID)
    assert row is not None
    assert row.pk is None
    assert row.chain_id == CHAIN_ID
    assert row.address == chain.escrow.address
    assert row.tx_hash == receipt["transactionHash"].to_0x_hex()
    assert row.block_hash == receipt["blockHash"].to_0x_hex()
    assert row.block_number == receipt["blockNumber"]
    assert row.log_index == raw["logIndex"]
    assert row.args == {
        "contractId": str(cid),
        "milestone": "0",
        "from": chain.accounts.client,
        "amount": "3",
    }


def test_raw_json_rpc_logs_decode_like_web3_ones(chain: Chain) -> None:
    start = chain.w3.eth.block_number + 1
    cid = chain.create([3, 4], token=chain.token.address)
    chain.fund(cid, 1)
    response: Any = chain.w3.provider.make_request(
        "eth_getLogs",  # type: ignore[arg-type]
        [{"address": chain.escrow.address, "fromBlock": hex(start), "toBlock": "latest"}],
    )
    raw_rows = [to_chain_log(raw, CHAIN_ID) for raw in response["result"]]
    web3_rows = decoded(chain, start)
    assert [r.event for r in raw_rows if r] == ["EscrowCreated", "Funded"]
    fields = ("address", "tx_hash", "log_index", "block_number", "block_hash", "event", "args")
    for raw_row, web3_row in zip(raw_rows, web3_rows, strict=True):
        assert raw_row is not None
        assert web3_row is not None
        assert [getattr(raw_row, f) for f in fields] == [getattr(web3_row, f) for f in fields]
    assert raw_rows[0] is not None
    assert raw_rows[0].args["token"] == chain.token.address


def test_other_topics_decode_to_none(chain: Chain) -> None:
    start = chain.w3.eth.block_number + 1
    chain.send(chain.token.functions.mint(chain.accounts.client, 5), chain.accounts.client)
    token_logs = list(chain.w3.eth.get_logs({"address": chain.token.address, "fromBlock": start}))
    assert token_logs, "the mint emitted a Transfer"
    assert [to_chain_log(raw, CHAIN_ID) for raw in token_logs] == [None]
    assert to_chain_log({"topics": [], "data": "0x"}, CHAIN_ID) is None


def test_owner_events_decode_too(chain: Chain) -> None:
    start = chain.w3.eth.block_number + 1
    chain.send(chain.escrow.functions.pause(), chain.accounts.owner)
    chain.send(chain.escrow.functions.unpause(), chain.accounts.owner)
    rows = decoded(chain, start)
    assert [(r.event, r.args) for r in rows] == [
        ("Paused", {"account": chain.accounts.owner}),
        ("Unpaused", {"account": chain.accounts.owner}),
    ]


def test_event_topic_matches_the_signature() -> None:
    expected = Web3.keccak(text="Funded(uint256,uint256,address,uint256)").to_0x_hex()
    assert events.event_topic("Funded") == expected


def test_ten_thousand_logs_decode_into_ten_thousand_rows(chain: Chain) -> None:
    """Sync's benchmark (bench/) ingests 10,000 events and reports the time decoding
    takes; here only that every one of them decodes."""
    start = chain.w3.eth.block_number + 1
    cid = chain.create([5, 6])
    chain.fund(cid, 0)
    chain.submit(cid, 0)
    chain.send(chain.escrow.functions.release(cid, 0, 4), chain.accounts.client)
    raw = logs_since(chain, start)
    batch = raw * (10_000 // len(raw))
    rows = [to_chain_log(log, CHAIN_ID) for log in batch]
    assert all(rows)
    assert len(rows) == 10_000
    events = {row.event for row in rows if row is not None}
    assert events >= {"EscrowCreated", "Funded", "Submitted", "Released"}
