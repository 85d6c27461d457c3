"""A hostile contract that re-enters ``withdraw`` from its ``receive`` cannot drain the escrow."""

from __future__ import annotations

from collections.abc import Callable

from web3.contract import Contract

from tests.chain.conftest import Chain

REENTER, REJECT = 0, 1


def _attacker_with_credit(
    chain: Chain, deploy_attacker: Callable[[], Contract], credit: int
) -> Contract:
    """An attacker contract that was the client of a refunded escrow worth ``credit``."""
    a = chain.accounts
    attacker = deploy_attacker()
    chain.send(attacker.functions.create(900, a.freelancer, a.arbiter, a.treasury, credit), a.owner)
    chain.send(attacker.functions.fund(900, 0), a.owner, value=credit)
    chain.send(chain.escrow.functions.refund(900, 0), a.freelancer)
    assert chain.credit(attacker.address) == credit
    return attacker


def test_reentrant_withdraw_gets_only_its_own_credit(
    chain: Chain, deploy_attacker: Callable[[], Contract]
) -> None:
    # Honest money the attacker would like to take: another escrow, funded and waiting.
    victim = chain.create([10**18])
    chain.fund(victim, 0)
    attacker = _attacker_with_credit(chain, deploy_attacker, 1_000)
    held_before = chain.held()

    receipt = chain.send(attacker.functions.withdraw(attacker.address), chain.accounts.owner)

    assert attacker.functions.attempts().call() == 1
    assert attacker.functions.successes().call() == 0
    assert chain.decode_error(attacker.functions.lastError().call())[0] == (
        "ReentrancyGuardReentrantCall"
    )
    assert chain.balance(attacker.address) == 1_000
    assert chain.held() == held_before - 1_000 == 10**18
    assert chain.credit(attacker.address) == 0
    (event,) = chain.events(receipt, "Withdrawn")
    assert event["amount"] == 1_000
    assert chain.status(victim, 0) == "Funded"


def test_second_withdraw_after_reentry_finds_nothing(
    chain: Chain, deploy_attacker: Callable[[], Contract]
) -> None:
    attacker = _attacker_with_credit(chain, deploy_attacker, 5)
    chain.send(attacker.functions.withdraw(attacker.address), chain.accounts.owner)
    name, _ = chain.revert(attacker.functions.withdraw(attacker.address), chain.accounts.owner)
    assert name == "NothingToWithdraw"
    assert chain.held() == 0


def test_a_contract_that_rejects_ether_can_withdraw_elsewhere(
    chain: Chain, deploy_attacker: Callable[[], Contract]
) -> None:
    attacker = _attacker_with_credit(chain, deploy_attacker, 321)
    chain.send(attacker.functions.setMode(REJECT), chain.accounts.owner)
    name, _ = chain.revert(attacker.functions.withdraw(attacker.address), chain.accounts.owner)
    assert name == "EthTransferFailed"
    assert chain.credit(attacker.address) == 321
    payee = chain.fresh_address()
    chain.send(attacker.functions.withdraw(payee), chain.accounts.owner)
    assert chain.balance(payee) == 321
    assert chain.held() == 0


def test_freelancer_contract_cannot_reenter_to_double_collect(
    chain: Chain, deploy_attacker: Callable[[], Contract]
) -> None:
    a = chain.accounts
    attacker = deploy_attacker()
    fns = chain.escrow.functions
    # The attacker is the freelancer of two released milestones.
    chain.send(
        fns.createEscrow(
            31,
            attacker.address,
            a.arbiter,
            "0x" + "00" * 20,
            a.treasury,
            [1_000, 2_000],
            86_400,
            1_000,
        ),
        a.client,
    )
    for index in (0, 1):
        chain.fund(31, index)
        chain.send(fns.release(31, index, [1_000, 2_000][index]), a.client)
    assert chain.credit(attacker.address) == 2_700
    chain.send(attacker.functions.withdraw(attacker.address), a.owner)
    assert chain.balance(attacker.address) == 2_700
    assert attacker.functions.successes().call() == 0
    assert chain.held() == 300 == chain.credit(a.treasury)
