"""The unsigned-transaction builders: calldata the escrow contract accepts, in the shape
wallets take (checksummed addresses, wei as a decimal string, the chain id)."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.types import Wei

from escrow.chain import transactions as txs
from tests.chain.conftest import DIGEST, ETH, FEE_BPS, REVIEW_PERIOD, Chain

CHAIN_ID = 31337
BIG = 2**200 + 1  # past what a JSON number (a double) can carry exactly


def send(chain: Chain, tx: dict) -> None:
    tx_hash = chain.w3.eth.send_transaction(
        {"from": tx["from"], "to": tx["to"], "data": tx["data"], "value": Wei(int(tx["value"]))}
    )
    assert chain.w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1


def create(chain: Chain, amounts: list[int], token: str = ETH, onchain_id: int = 7) -> dict:
    a = chain.accounts
    return txs.create_escrow(
        chain.escrow.address.lower(),
        chain_id=CHAIN_ID,
        sender=a.client.lower(),
        onchain_id=onchain_id,
        freelancer=a.freelancer,
        arbiter=a.arbiter,
        token=token,
        treasury=a.treasury,
        amounts=amounts,
        review_period=REVIEW_PERIOD,
        fee_bps=FEE_BPS,
        description="create",
    )


def test_shape_of_an_unsigned_transaction(chain):
    tx = txs.fund(
        chain.escrow.address.lower(),
        onchain_id=7,
        index=1,
        value=BIG,
        chain_id=CHAIN_ID,
        sender=chain.accounts.client.lower(),
        description="Fund milestone 2",
    )
    assert set(tx) == {"to", "data", "value", "chainId", "from", "description"}
    assert tx["to"] == chain.escrow.address
    assert tx["from"] == chain.accounts.client
    assert tx["value"] == str(BIG)
    assert tx["chainId"] == CHAIN_ID
    function, args = chain.escrow.decode_function_input(tx["data"])
    assert function.fn_name == "fund"
    assert args == {"contractId": 7, "index": 1}


def test_every_builder_encodes_its_function(chain):
    escrow, a = chain.escrow.address, chain.accounts
    common = {"chain_id": CHAIN_ID, "sender": a.client, "description": "x"}
    built = {
        "submit": txs.submit(escrow, onchain_id=3, index=0, digest=DIGEST, **common),
        "requestRevision": txs.request_revision(escrow, onchain_id=3, index=0, **common),
        "release": txs.release(escrow, onchain_id=3, index=0, amount=BIG, **common),
        "requestRefund": txs.request_refund(escrow, onchain_id=3, index=0, **common),
        "refund": txs.refund(escrow, onchain_id=3, index=0, **common),
        "dispute": txs.dispute(escrow, onchain_id=3, index=0, **common),
        "withdraw": txs.withdraw(escrow, token=ETH, to=a.stranger.lower(), **common),
    }
    for name, tx in built.items():
        function, _ = chain.escrow.decode_function_input(tx["data"])
        assert function.fn_name == name
        assert tx["value"] == "0"
    assert chain.escrow.decode_function_input(built["submit"]["data"])[1]["deliverable"] == DIGEST
    assert chain.escrow.decode_function_input(built["release"]["data"])[1]["amount"] == BIG
    assert chain.escrow.decode_function_input(built["withdraw"]["data"])[1]["to"] == a.stranger


def test_a_digest_is_32_bytes():
    with pytest.raises(ValueError, match="32 bytes"):
        txs.submit(
            ETH, onchain_id=1, index=0, digest=b"short", chain_id=1, sender=ETH, description=""
        )


def test_built_transactions_run_an_eth_escrow_end_to_end(chain):
    a = chain.accounts
    send(chain, create(chain, [3 * 10**17, 10**17]))
    common: dict[str, Any] = {"chain_id": CHAIN_ID, "description": "x"}
    escrow = chain.escrow.address
    send(
        chain, txs.fund(escrow, onchain_id=7, index=0, value=3 * 10**17, sender=a.client, **common)
    )
    send(
        chain,
        txs.submit(escrow, onchain_id=7, index=0, digest=DIGEST, sender=a.freelancer, **common),
    )
    send(
        chain,
        txs.release(escrow, onchain_id=7, index=0, amount=2 * 10**17, sender=a.client, **common),
    )
    assert chain.status(7, 0) == "Released"
    assert chain.credit(a.client) == 10**17
    before = chain.balance(a.stranger)
    send(chain, txs.withdraw(escrow, token=ETH, to=a.stranger, sender=a.client, **common))
    assert chain.balance(a.stranger) == before + 10**17


def test_built_approve_lets_the_escrow_pull_the_token(chain):
    a = chain.accounts
    token = chain.token.address
    chain.send(chain.token.functions.mint(a.client, 5_000_000), a.owner)
    send(chain, create(chain, [5_000_000], token=token, onchain_id=9))
    approve = txs.approve_token(
        token.lower(),
        spender=chain.escrow.address,
        amount=5_000_000,
        chain_id=CHAIN_ID,
        sender=a.client,
        description="approve",
    )
    assert approve["to"] == Web3.to_checksum_address(token)
    send(chain, approve)
    escrow = chain.escrow.address
    send(
        chain,
        txs.fund(
            escrow,
            onchain_id=9,
            index=0,
            value=0,
            chain_id=CHAIN_ID,
            sender=a.client,
            description="f",
        ),
    )
    assert chain.held(token) == 5_000_000
