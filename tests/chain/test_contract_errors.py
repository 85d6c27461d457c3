"""Every custom error the escrow can raise, each provoked by a test and decoded by selector.

A reverted call mines nothing (``Chain.revert`` checks), so each denial also proves that no
state changed. ``test_every_custom_error_is_provoked`` fails when an error in the ABI has no
scenario here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from web3.exceptions import ContractLogicError
from web3.types import Wei

from escrow.chain.build import load_artifact
from tests.chain.conftest import DAY, DIGEST, ETH, FEE_BPS, Chain

Scenario = Callable[[Chain], None]
SCENARIOS: dict[str, list[Scenario]] = {}
ZERO = ETH


def provokes(error: str) -> Callable[[Scenario], Scenario]:
    def register(scenario: Scenario) -> Scenario:
        SCENARIOS.setdefault(error, []).append(scenario)
        return scenario

    return register


def _create_call(
    chain: Chain,
    *,
    contract_id: int = 7,
    freelancer: str | None = None,
    arbiter: str | None = None,
    token: str = ETH,
    treasury: str | None = None,
    amounts: list[int] | None = None,
    review_period: int = DAY,
    fee_bps: int = FEE_BPS,
) -> object:
    a = chain.accounts
    return chain.escrow.functions.createEscrow(
        contract_id,
        freelancer or a.freelancer,
        arbiter or a.arbiter,
        token,
        treasury or a.treasury,
        [100] if amounts is None else amounts,
        review_period,
        fee_bps,
    )


def _funded(chain: Chain, amount: int = 100, token: str = ETH) -> int:
    cid = chain.create([amount], token=token)
    chain.fund(cid, 0)
    return cid


# ------------------------------------------------------------------ creation


@provokes("EscrowExists")
def escrow_exists(chain: Chain) -> None:
    chain.create([1], contract_id=5)
    assert chain.revert(_create_call(chain, contract_id=5), chain.accounts.stranger) == (
        "EscrowExists",
        (5,),
    )


@provokes("EscrowNotFound")
def escrow_not_found(chain: Chain) -> None:
    fns = chain.escrow.functions
    a = chain.accounts
    assert chain.revert(fns.fund(404, 0), a.client, value=1) == ("EscrowNotFound", (404,))
    assert chain.revert(fns.dispute(404, 0), a.client) == ("EscrowNotFound", (404,))
    for view in (fns.getEscrow(404), fns.getMilestones(404)):
        with pytest.raises(ContractLogicError) as caught:
            view.call()
        assert chain.decode_error(caught.value.data) == ("EscrowNotFound", (404,))
    assert fns.heldAmount(404).call() == 0


@provokes("ZeroAddress")
def zero_address(chain: Chain) -> None:
    a = chain.accounts
    for field in ("freelancer", "arbiter", "treasury"):
        call = _create_call(chain, **{field: ZERO})  # type: ignore[arg-type]
        assert chain.revert(call, a.client) == ("ZeroAddress", ())
    cid = _funded(chain)
    chain.send(chain.escrow.functions.refund(cid, 0), a.freelancer)
    assert chain.revert(chain.escrow.functions.withdraw(ETH, ZERO), a.client) == (
        "ZeroAddress",
        (),
    )


@provokes("InvalidParties")
def invalid_parties(chain: Chain) -> None:
    a = chain.accounts
    for call in (
        _create_call(chain, freelancer=a.client),
        _create_call(chain, arbiter=a.client),
        _create_call(chain, arbiter=a.freelancer),
    ):
        assert chain.revert(call, a.client) == ("InvalidParties", ())


@provokes("TokenNotContract")
def token_not_contract(chain: Chain) -> None:
    a = chain.accounts
    call = _create_call(chain, token=a.stranger)
    assert chain.revert(call, a.client) == ("TokenNotContract", (a.stranger,))


@provokes("InvalidMilestones")
def invalid_milestones(chain: Chain) -> None:
    for amounts in ([], [5, 0], [1] * 101):
        call = _create_call(chain, amounts=amounts)
        assert chain.revert(call, chain.accounts.client) == ("InvalidMilestones", ())
    chain.create([1] * 100)  # the limit itself is fine


@provokes("InvalidReviewPeriod")
def invalid_review_period(chain: Chain) -> None:
    for period in (0, 365 * DAY + 1):
        call = _create_call(chain, review_period=period)
        assert chain.revert(call, chain.accounts.client) == ("InvalidReviewPeriod", (period,))


@provokes("FeeTooHigh")
def fee_too_high(chain: Chain) -> None:
    call = _create_call(chain, fee_bps=2_001)
    assert chain.revert(call, chain.accounts.client) == ("FeeTooHigh", (2_001,))
    chain.create([1], fee_bps=2_000)


# ------------------------------------------------------------------ milestones and access


@provokes("MilestoneOutOfRange")
def milestone_out_of_range(chain: Chain) -> None:
    a = chain.accounts
    fns = chain.escrow.functions
    cid = chain.create([1, 2])
    for call, sender in [
        (fns.fund(cid, 2), a.client),
        (fns.submit(cid, 2, DIGEST), a.freelancer),
        (fns.release(cid, 9, 1), a.client),
        (fns.autoRelease(cid, 2), a.stranger),
        (fns.refund(cid, 2), a.freelancer),
        (fns.dispute(cid, 2), a.client),
        (fns.resolve(cid, 2, 0), a.arbiter),
    ]:
        assert chain.revert(call, sender)[0] == "MilestoneOutOfRange"


@provokes("NotClient")
def not_client(chain: Chain) -> None:
    a = chain.accounts
    fns = chain.escrow.functions
    cid = _funded(chain)
    for sender in (a.freelancer, a.arbiter, a.stranger, a.owner):
        assert chain.revert(fns.release(cid, 0, 100), sender) == ("NotClient", (sender,))
        assert chain.revert(fns.requestRefund(cid, 0), sender) == ("NotClient", (sender,))
    other = chain.create([5])
    assert chain.revert(fns.fund(other, 0), a.freelancer, value=5) == ("NotClient", (a.freelancer,))
    chain.submit(cid, 0)
    assert chain.revert(fns.requestRevision(cid, 0), a.freelancer) == (
        "NotClient",
        (a.freelancer,),
    )
    assert chain.status(cid, 0) == "Submitted"


@provokes("NotFreelancer")
def not_freelancer(chain: Chain) -> None:
    a = chain.accounts
    fns = chain.escrow.functions
    cid = _funded(chain)
    for sender in (a.client, a.arbiter, a.stranger):
        assert chain.revert(fns.submit(cid, 0, DIGEST), sender) == ("NotFreelancer", (sender,))
        # The client cannot refund itself: cancelling needs the freelancer's consent.
        assert chain.revert(fns.refund(cid, 0), sender) == ("NotFreelancer", (sender,))
    assert chain.status(cid, 0) == "Funded"


@provokes("NotParty")
def not_party(chain: Chain) -> None:
    a = chain.accounts
    cid = _funded(chain)
    for sender in (a.arbiter, a.stranger, a.treasury):
        assert chain.revert(chain.escrow.functions.dispute(cid, 0), sender) == (
            "NotParty",
            (sender,),
        )


@provokes("NotArbiter")
def not_arbiter(chain: Chain) -> None:
    a = chain.accounts
    cid = _funded(chain)
    chain.dispute(cid, 0)
    for sender in (a.client, a.freelancer, a.owner, a.stranger):
        assert chain.revert(chain.escrow.functions.resolve(cid, 0, 5_000), sender) == (
            "NotArbiter",
            (sender,),
        )
    assert chain.status(cid, 0) == "Disputed"


@provokes("InvalidStatus")
def invalid_status(chain: Chain) -> None:
    a = chain.accounts
    fns = chain.escrow.functions
    unfunded, funded, submitted, released = chain.create([100, 100, 100, 100]), 0, 0, 0
    cid = unfunded
    for index in (1, 2, 3):
        chain.fund(cid, index)
    chain.submit(cid, 2)
    chain.send(fns.release(cid, 3, 100), a.client)
    unfunded, funded, submitted, released = 0, 1, 2, 3
    cases = [
        (fns.fund(cid, funded), a.client, 100, "Funded"),
        (fns.submit(cid, unfunded, DIGEST), a.freelancer, 0, "Unfunded"),
        (fns.submit(cid, submitted, DIGEST), a.freelancer, 0, "Submitted"),
        (fns.requestRevision(cid, funded), a.client, 0, "Funded"),
        (fns.release(cid, unfunded, 1), a.client, 0, "Unfunded"),
        (fns.release(cid, released, 1), a.client, 0, "Released"),
        (fns.autoRelease(cid, funded), a.stranger, 0, "Funded"),
        (fns.requestRefund(cid, submitted), a.client, 0, "Submitted"),
        (fns.refund(cid, unfunded), a.freelancer, 0, "Unfunded"),
        (fns.refund(cid, released), a.freelancer, 0, "Released"),
        (fns.dispute(cid, unfunded), a.client, 0, "Unfunded"),
        (fns.dispute(cid, released), a.freelancer, 0, "Released"),
        (fns.resolve(cid, funded, 0), a.arbiter, 0, "Funded"),
    ]
    statuses = ["Unfunded", "Funded", "Submitted", "Released", "Refunded", "Disputed", "Resolved"]
    for call, sender, value, status in cases:
        assert chain.revert(call, sender, value) == ("InvalidStatus", (statuses.index(status),))
    # Settled milestones are final.
    chain.send(fns.refund(cid, funded), a.freelancer)
    chain.dispute(cid, submitted)
    chain.send(fns.resolve(cid, submitted, 1), a.arbiter)
    for index, status in ((funded, "Refunded"), (submitted, "Resolved")):
        for call, sender in [
            (fns.dispute(cid, index), a.client),
            (fns.resolve(cid, index, 0), a.arbiter),
            (fns.refund(cid, index), a.freelancer),
        ]:
            assert chain.revert(call, sender) == ("InvalidStatus", (statuses.index(status),))


# ------------------------------------------------------------------ money in


@provokes("WrongValue")
def wrong_value(chain: Chain) -> None:
    a = chain.accounts
    cid = chain.create([1_000])
    for sent in (0, 999, 1_001):
        assert chain.revert(chain.escrow.functions.fund(cid, 0), a.client, sent) == (
            "WrongValue",
            (1_000, sent),
        )
    token_id = chain.create([1_000], token=chain.token.address)
    chain.send(chain.token.functions.mint(a.client, 1_000), a.client)
    chain.send(chain.token.functions.approve(chain.escrow.address, 1_000), a.client)
    assert chain.revert(chain.escrow.functions.fund(token_id, 0), a.client, 1) == (
        "WrongValue",
        (0, 1),
    )
    assert chain.held() == 0


@provokes("TokenAmountMismatch")
def token_amount_mismatch(chain: Chain) -> None:
    a = chain.accounts
    cid = chain.create([10_000], token=chain.token.address)
    chain.send(chain.token.functions.setTransferFeeBps(100), a.owner)
    chain.send(chain.token.functions.mint(a.client, 10_000), a.client)
    chain.send(chain.token.functions.approve(chain.escrow.address, 10_000), a.client)
    assert chain.revert(chain.escrow.functions.fund(cid, 0), a.client) == (
        "TokenAmountMismatch",
        (10_000, 9_900),
    )
    assert chain.status(cid, 0) == "Unfunded"


@provokes("ERC20InsufficientAllowance")
def erc20_without_allowance(chain: Chain) -> None:
    a = chain.accounts
    cid = chain.create([10], token=chain.token.address)
    chain.send(chain.token.functions.mint(a.client, 10), a.client)
    name, (spender, allowance, needed) = chain.revert(chain.escrow.functions.fund(cid, 0), a.client)
    assert (name, spender, allowance, needed) == (
        "ERC20InsufficientAllowance",
        chain.escrow.address,
        0,
        10,
    )


@provokes("SafeERC20FailedOperation")
def token_returning_false(chain: Chain) -> None:
    a = chain.accounts
    cid = chain.create([10], token=chain.token.address)
    chain.send(chain.token.functions.mint(a.client, 10), a.client)
    chain.send(chain.token.functions.approve(chain.escrow.address, 10), a.client)
    chain.send(chain.token.functions.setFailTransfers(True), a.owner)
    assert chain.revert(chain.escrow.functions.fund(cid, 0), a.client) == (
        "SafeERC20FailedOperation",
        (chain.token.address,),
    )


# ------------------------------------------------------------------ work and settlement


@provokes("EmptyDeliverable")
def empty_deliverable(chain: Chain) -> None:
    cid = _funded(chain)
    call = chain.escrow.functions.submit(cid, 0, b"\x00" * 32)
    assert chain.revert(call, chain.accounts.freelancer) == ("EmptyDeliverable", ())


@provokes("ReviewPeriodActive")
def review_period_active(chain: Chain) -> None:
    cid = _funded(chain)
    chain.submit(cid, 0)
    deadline = chain.milestone(cid, 0)["submitted_at"] + 14 * DAY
    assert chain.revert(chain.escrow.functions.autoRelease(cid, 0), chain.accounts.client) == (
        "ReviewPeriodActive",
        (deadline,),
    )


@provokes("InvalidReleaseAmount")
def invalid_release_amount(chain: Chain) -> None:
    cid = _funded(chain, 100)
    for amount in (0, 101):
        call = chain.escrow.functions.release(cid, 0, amount)
        assert chain.revert(call, chain.accounts.client) == ("InvalidReleaseAmount", (amount,))


@provokes("InvalidShare")
def invalid_share(chain: Chain) -> None:
    cid = _funded(chain)
    chain.dispute(cid, 0)
    call = chain.escrow.functions.resolve(cid, 0, 10_001)
    assert chain.revert(call, chain.accounts.arbiter) == ("InvalidShare", (10_001,))


# ------------------------------------------------------------------ money out


@provokes("NothingToWithdraw")
def nothing_to_withdraw(chain: Chain) -> None:
    a = chain.accounts
    fns = chain.escrow.functions
    assert chain.revert(fns.withdraw(ETH, a.stranger), a.stranger) == ("NothingToWithdraw", ())
    cid = _funded(chain)
    chain.send(fns.refund(cid, 0), a.freelancer)
    chain.send(fns.withdraw(ETH, a.client), a.client)
    assert chain.revert(fns.withdraw(ETH, a.client), a.client) == ("NothingToWithdraw", ())


@provokes("EthTransferFailed")
def eth_transfer_failed(chain: Chain) -> None:
    a = chain.accounts
    rejecter = chain.deploy("ReentrantAttacker", chain.escrow.address)
    chain.send(rejecter.functions.setMode(1), a.owner)  # Mode.Reject
    cid = _funded(chain, 500)
    chain.send(chain.escrow.functions.refund(cid, 0), a.freelancer)
    call = chain.escrow.functions.withdraw(ETH, rejecter.address)
    assert chain.revert(call, a.client) == ("EthTransferFailed", (rejecter.address,))
    assert chain.credit(a.client) == 500  # nothing lost: withdraw elsewhere
    payee = chain.fresh_address()
    chain.send(chain.escrow.functions.withdraw(ETH, payee), a.client)
    assert chain.balance(payee) == 500


@provokes("Blocked")
def blocked_token_recipient(chain: Chain) -> None:
    a = chain.accounts
    token = chain.token.address
    cid = _funded(chain, 300, token=token)
    chain.send(chain.escrow.functions.release(cid, 0, 300), a.client)
    chain.send(chain.token.functions.setBlocked(a.freelancer, True), a.owner)
    call = chain.escrow.functions.withdraw(token, a.freelancer)
    assert chain.revert(call, a.freelancer) == ("Blocked", (a.freelancer,))
    payee = chain.fresh_address()  # a blocklisted address moves its money elsewhere
    chain.send(chain.escrow.functions.withdraw(token, payee), a.freelancer)
    assert chain.balance(payee, token) == 270


@provokes("ReentrancyGuardReentrantCall")
def reentrant_withdraw(chain: Chain) -> None:
    a = chain.accounts
    attacker = chain.deploy("ReentrantAttacker", chain.escrow.address)
    chain.send(attacker.functions.create(77, a.freelancer, a.arbiter, a.treasury, 50), a.owner)
    chain.send(attacker.functions.fund(77, 0), a.owner, value=50)
    chain.send(chain.escrow.functions.refund(77, 0), a.freelancer)
    chain.send(attacker.functions.withdraw(attacker.address), a.owner)
    assert attacker.functions.successes().call() == 0
    assert chain.decode_error(attacker.functions.lastError().call()) == (
        "ReentrancyGuardReentrantCall",
        (),
    )


# ------------------------------------------------------------------ owner


@provokes("OwnableUnauthorizedAccount")
def not_owner(chain: Chain) -> None:
    a = chain.accounts
    fns = chain.escrow.functions
    for sender in (a.client, a.arbiter, a.stranger):
        assert chain.revert(fns.pause(), sender) == ("OwnableUnauthorizedAccount", (sender,))
    chain.send(fns.pause(), a.owner)
    assert chain.revert(fns.unpause(), a.arbiter) == ("OwnableUnauthorizedAccount", (a.arbiter,))


@provokes("OwnableInvalidOwner")
def zero_owner(chain: Chain) -> None:
    artifact = load_artifact("MilestoneEscrow")
    factory = chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    assert chain.revert(factory.constructor(ZERO), chain.accounts.owner) == (
        "OwnableInvalidOwner",
        (ZERO,),
    )


@provokes("EnforcedPause")
def enforced_pause(chain: Chain) -> None:
    cid = chain.create([1])
    chain.send(chain.escrow.functions.pause(), chain.accounts.owner)
    assert chain.revert(chain.escrow.functions.fund(cid, 0), chain.accounts.client, 1) == (
        "EnforcedPause",
        (),
    )
    assert chain.revert(chain.escrow.functions.pause(), chain.accounts.owner) == (
        "EnforcedPause",
        (),
    )


@provokes("ExpectedPause")
def expected_pause(chain: Chain) -> None:
    assert chain.revert(chain.escrow.functions.unpause(), chain.accounts.owner) == (
        "ExpectedPause",
        (),
    )


# ------------------------------------------------------------------ the tests


def _all_scenarios() -> list[object]:
    return [
        pytest.param(scenario, id=f"{error}-{scenario.__name__}")
        for error, scenarios in SCENARIOS.items()
        for scenario in scenarios
    ]


@pytest.mark.parametrize("scenario", _all_scenarios())
def test_custom_error(chain: Chain, scenario: Scenario) -> None:
    scenario(chain)


def test_every_custom_error_is_provoked() -> None:
    declared = {
        entry["name"]
        for entry in load_artifact("MilestoneEscrow")["abi"]
        if entry["type"] == "error"
    }
    assert declared - SCENARIOS.keys() == set()


def test_ether_sent_without_a_call_is_rejected(chain: Chain) -> None:
    with pytest.raises(ContractLogicError):  # no receive() or fallback
        chain.w3.eth.send_transaction(
            {"from": chain.accounts.client, "to": chain.escrow.address, "value": Wei(1)}
        )
    assert chain.held() == 0
