"""Withdrawn: credits leaving the contract leave the ledger too: a party's available
balance (found through the escrow's wallets, else a linked wallet), the treasury's
fees, or nothing at all for an address that is none of ours."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3

from escrow import ledger
from escrow.chain.apply import rollback_log
from escrow.chain.node import token_contract
from escrow.models import ChainLog, Transfer
from marketplace.models import Wallet
from tests.chain.conftest import Chain
from tests.chain.test_apply_support import (
    ZERO,
    Escrowed,
    available,
    escrowed,
    external,
    fees,
)
from tests.factories import verified_user

APPLIED = ChainLog.Status.APPLIED
IGNORED = ChainLog.Status.IGNORED
AMOUNT = 1_000_000


@pytest.fixture
def usdc(chain_rail: Any) -> Escrowed:
    """A created usdc escrow whose first milestone was released with 400,000 back."""
    e = escrowed(chain_rail, "usdc", (AMOUNT, 3_000_000))
    e.create()
    e.fund(0)
    e.call("release", 0, 600_000, sender=chain_rail.accounts.client)
    e.sync()
    return e


def withdraw(e: Escrowed, sender: str, token: str | None = None, to: str | None = None) -> None:
    call = e.rail.escrow.functions.withdraw(token or e.token, to or sender)
    e.transact(call, sender)


def withdrawals(e: Escrowed) -> list[ChainLog]:
    """Sync; the foreign escrow's own events must all be ignored."""
    rows = e.sync()
    assert all(r.status == IGNORED for r in rows if r.event != "Withdrawn")
    return [r for r in rows if r.event == "Withdrawn"]


def foreign_escrow(chain: Chain, client: str, freelancer: str, token: str, amount: int) -> int:
    """An escrow that is no SmartPay contract's, released in part: credits for all."""
    a = chain.accounts
    escrow = chain.escrow.functions
    chain.send(
        escrow.createEscrow(777, freelancer, a.arbiter, token, a.treasury, [amount], 3600, 1000),
        client,
    )
    if token == ZERO:
        chain.send(escrow.fund(777, 0), client, value=amount)
    else:
        erc20 = token_contract(chain.w3, token).functions
        chain.send(erc20.mint(client, amount), client)
        chain.send(erc20.approve(chain.escrow.address, amount), client)
        chain.send(escrow.fund(777, 0), client)
    chain.send(escrow.release(777, 0, amount // 2), client)
    return 777


def test_freelancer_client_and_treasury_withdrawals_leave_the_ledger(usdc: Escrowed) -> None:
    a = usdc.rail.accounts
    contract = usdc.contract
    assert available(contract.freelancer, "usdc") == 540_000
    assert available(contract.client, "usdc") == 400_000
    assert fees("usdc") == 60_000
    withdraw(usdc, a.freelancer, to=a.stranger)  # `to` may be any address
    withdraw(usdc, a.client)
    withdraw(usdc, a.treasury)
    rows = usdc.sync()
    assert [(r.event, r.status, r.note) for r in rows] == [("Withdrawn", APPLIED, "")] * 3
    assert available(contract.freelancer, "usdc") == 0
    assert available(contract.client, "usdc") == 0
    assert fees("usdc") == 0
    # Funded 1,000,000 came in from outside and all of it went back out.
    assert external("usdc") == 0
    assert [key.rsplit(":", 1)[1] for r in rows for key in r.transfer_keys] == ["withdraw"] * 3
    assert all(r.escrow is None for r in rows)
    memo = Transfer.objects.get(idempotency_key=rows[0].transfer_keys[0]).memo
    assert memo == f"Withdrawn on chain to {a.stranger}"


def test_a_party_is_found_through_the_escrow_even_after_unlinking_the_wallet(
    usdc: Escrowed,
) -> None:
    a = usdc.rail.accounts
    Wallet.objects.filter(address=a.freelancer).delete()
    withdraw(usdc, a.freelancer)
    (row,) = usdc.sync()
    assert row.status == APPLIED
    assert available(usdc.contract.freelancer, "usdc") == 0


def test_an_address_that_is_none_of_ours_is_ignored(usdc: Escrowed) -> None:
    chain = usdc.rail.chain
    a = usdc.rail.accounts
    outsider = str(list(chain.w3.eth.accounts)[6])
    foreign_escrow(chain, a.stranger, outsider, usdc.token, 2_000_000)
    withdraw(usdc, outsider)
    (row,) = withdrawals(usdc)
    assert row.status == IGNORED
    assert row.note == f"{outsider} is not a wallet of a SmartPay party or the treasury."
    assert row.transfer_keys == []


def test_a_linked_wallet_without_an_escrow_is_found_and_its_shortfall_comes_from_outside(
    usdc: Escrowed,
) -> None:
    chain = usdc.rail.chain
    a = usdc.rail.accounts
    outsider = str(list(chain.w3.eth.accounts)[6])
    someone = verified_user(is_client=False, is_freelancer=True)
    Wallet.objects.create(user=someone, address=Web3.to_checksum_address(outsider))
    foreign_escrow(chain, a.stranger, outsider, usdc.token, 2_000_000)
    withdraw(usdc, outsider)
    (row,) = withdrawals(usdc)
    assert row.status == APPLIED
    assert [key.rsplit(":", 1)[1] for key in row.transfer_keys] == ["shortfall", "withdraw"]
    assert "USDC 0.900000 of this withdrawal was credited by an escrow that is not ours" in (
        row.note
    )
    assert available(someone, "usdc") == 0


def test_withdrawing_credits_from_a_foreign_escrow_too_never_goes_negative(
    usdc: Escrowed,
) -> None:
    chain = usdc.rail.chain
    a = usdc.rail.accounts
    # Our freelancer also works for an escrow that is not SmartPay's; so does our treasury.
    foreign_escrow(chain, a.stranger, a.freelancer, usdc.token, 2_000_000)
    credit = chain.credit(a.freelancer, usdc.token)
    assert credit == 540_000 + 900_000
    withdraw(usdc, a.freelancer)
    withdraw(usdc, a.treasury)
    freelancer_row, treasury_row = withdrawals(usdc)
    expected = ((freelancer_row, [900_000, 1_440_000]), (treasury_row, [100_000, 160_000]))
    for row, amounts in expected:
        assert row.status == APPLIED
        legs = [Transfer.objects.get(idempotency_key=k) for k in row.transfer_keys]
        assert [int(t.amount) for t in legs] == amounts
        assert legs[0].source == ledger.external_account("chain", "usdc")
    assert available(usdc.contract.freelancer, "usdc") == 0
    assert fees("usdc") == 0
    assert not ledger.find_problems()
    # A reorg takes both withdrawals back, shortfalls included.
    for row in (treasury_row, freelancer_row):
        rollback_log(row)
    assert available(usdc.contract.freelancer, "usdc") == 540_000
    assert fees("usdc") == 60_000
    assert not ledger.find_problems()


def test_withdrawals_of_a_token_we_do_not_use_are_ignored(usdc: Escrowed) -> None:
    chain = usdc.rail.chain
    a = usdc.rail.accounts
    other = chain.deploy("TestToken")
    foreign_escrow(chain, a.stranger, a.freelancer, other.address, 10)
    withdraw(usdc, a.freelancer, token=other.address)
    (row,) = withdrawals(usdc)
    assert row.status == IGNORED
    assert row.note == f"Token {other.address} is not a currency of the chain rail."
    assert available(usdc.contract.freelancer, "usdc") == 540_000


def test_eth_withdrawal_of_a_refund(chain_rail: Any) -> None:
    e = escrowed(chain_rail, "eth", (10**18,))
    a = chain_rail.accounts
    e.create()
    e.fund(0)
    e.call("refund", 0, sender=a.freelancer)
    withdraw(e, a.client, token=ZERO)
    rows = e.sync()
    assert [(r.event, r.status) for r in rows] == [
        ("EscrowCreated", APPLIED),
        ("Funded", APPLIED),
        ("Refunded", APPLIED),
        ("Withdrawn", APPLIED),
    ]
    assert available(e.contract.client, "eth") == 0
    assert external("eth") == 0
