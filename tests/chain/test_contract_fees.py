"""Fee arithmetic: the fee rounds down, comes out of the freelancer's share, and no wei is lost."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chain.conftest import ETH, Chain

ODD_AMOUNTS = [1, 3, 7, 9_999, 10_001, 123_456_789, 10**18 + 1, 2**100 + 12_345]
FEES = [0, 1, 333, 1_000, 2_000]


def _credits(chain: Chain, token: str = ETH) -> tuple[int, int, int]:
    a = chain.accounts
    return (
        chain.credit(a.freelancer, token),
        chain.credit(a.treasury, token),
        chain.credit(a.client, token),
    )


@pytest.mark.parametrize("fee_bps", FEES)
def test_release_of_odd_amounts_loses_no_wei(chain: Chain, fee_bps: int) -> None:
    a = chain.accounts
    provider: Any = chain.w3.provider
    provider.make_request("anvil_setBalance", [a.client, hex(2**110)])  # for 2**100 wei
    for amount in ODD_AMOUNTS:
        for released in sorted({1, amount // 3 or 1, amount}):
            before = _credits(chain)
            cid = chain.create([amount], fee_bps=fee_bps)
            chain.fund(cid, 0)
            receipt = chain.send(chain.escrow.functions.release(cid, 0, released), a.client)
            (event,) = chain.events(receipt, "Released")
            fee = released * fee_bps // 10_000
            assert event["fee"] == fee
            assert event["freelancerAmount"] == released - fee
            assert event["clientRefund"] == amount - released
            assert event["freelancerAmount"] + event["fee"] + event["clientRefund"] == amount
            after = _credits(chain)
            assert sum(after) - sum(before) == amount


@pytest.mark.parametrize("fee_bps", FEES)
def test_resolve_of_odd_amounts_loses_no_wei(chain: Chain, fee_bps: int) -> None:
    a = chain.accounts
    for amount in (1, 7, 10_001, 123_456_789):
        for share in (0, 1, 3_333, 6_667, 9_999, 10_000):
            cid = chain.create([amount], fee_bps=fee_bps)
            chain.fund(cid, 0)
            chain.dispute(cid, 0)
            receipt = chain.send(chain.escrow.functions.resolve(cid, 0, share), a.arbiter)
            (event,) = chain.events(receipt, "Resolved")
            gross = amount * share // 10_000
            assert event["fee"] == gross * fee_bps // 10_000
            assert event["freelancerAmount"] == gross - event["fee"]
            assert event["clientRefund"] == amount - gross
            assert event["freelancerAmount"] + event["fee"] + event["clientRefund"] == amount


@pytest.mark.parametrize("use_token", [False, True])
def test_every_wei_funded_is_withdrawn_by_someone(chain: Chain, use_token: bool) -> None:
    """Fund odd amounts, settle every way, withdraw everything: the escrow ends empty."""
    a = chain.accounts
    fns = chain.escrow.functions
    token = chain.token.address if use_token else ETH
    amounts = [1_000_003, 777, 10_001, 99, 5]
    cid = chain.create(amounts, token=token, fee_bps=333)
    for index in range(len(amounts)):
        chain.fund(cid, index)
    assert chain.held(token) == sum(amounts)
    chain.submit(cid, 0)
    chain.send(fns.release(cid, 0, 1_000_003), a.client)
    chain.send(fns.release(cid, 1, 500), a.client)
    chain.dispute(cid, 2)
    chain.send(fns.resolve(cid, 2, 3_333), a.arbiter)
    chain.send(fns.refund(cid, 3), a.freelancer)
    chain.submit(cid, 4)
    chain.time_travel(14 * 86_400)
    chain.send(fns.autoRelease(cid, 4), a.stranger)
    assert sum(_credits(chain, token)) == sum(amounts)

    payees = {who: chain.fresh_address() for who in ("freelancer", "treasury", "client")}
    for who, payee in payees.items():
        chain.send(fns.withdraw(token, payee), getattr(a, who))
    paid = {who: chain.balance(payee, token) for who, payee in payees.items()}
    assert sum(paid.values()) == sum(amounts)
    assert chain.held(token) == 0
    assert _credits(chain, token) == (0, 0, 0)
    # Only the fee left the parties: 1_000_003, 500, floor(10_001 * 33.33 %) = 3_333 and 5.
    gross = 1_000_003 + 500 + 3_333 + 5
    fee = sum(x * 333 // 10_000 for x in (1_000_003, 500, 3_333, 5))
    assert paid == {"freelancer": gross - fee, "treasury": fee, "client": sum(amounts) - gross}
