"""EscrowCreated: an escrow is ours only with the contract's exact terms. A creation with
other terms under a contract's id is ignored and the contract moves to a fresh id;
events of escrows that are not ours are ignored."""

from __future__ import annotations

from typing import Any

import pytest

from escrow.chain.apply import apply_log
from escrow.chain.terms import REKEY_STRIDE
from escrow.models import ChainEscrow, ChainLog, Transfer
from marketplace.models import Milestone
from tests.chain.conftest import DAY
from tests.chain.test_apply_support import Escrowed, S, activity, escrowed, held

IGNORED = ChainLog.Status.IGNORED
APPLIED = ChainLog.Status.APPLIED


@pytest.fixture
def eth(chain_rail: Any) -> Escrowed:
    return escrowed(chain_rail, "eth", (10**18, 2 * 10**18))


def wrong_terms(e: Escrowed, case: str) -> tuple[dict[str, Any], str]:
    """createEscrow arguments with one term wrong, and the words the note must hold."""
    a = e.rail.accounts
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "client wallet": ({"sender": a.stranger}, "is not a wallet of the client"),
        "freelancer": ({"freelancer": a.stranger}, "is not a wallet of the freelancer"),
        "arbiter": ({"arbiter": a.owner}, f"arbiter {a.owner} is not {a.arbiter}"),
        "treasury": ({"treasury": a.stranger}, f"treasury {a.stranger} is not {a.treasury}"),
        "token": ({"token": e.rail.token.address}, f"token {e.rail.token.address} is not"),
        "amounts": ({"amounts": [10**18, 2 * 10**18 + 1]}, "amounts ["),
        "too few amounts": ({"amounts": [10**18]}, "amounts ["),
        "fee": ({"feeBps": 999}, "fee 999 bps is not 1000 bps"),
        "review period": ({"reviewPeriod": 7 * DAY}, f"review period {7 * DAY} s is not"),
    }
    return cases[case]


CASES = [
    "client wallet",
    "freelancer",
    "arbiter",
    "treasury",
    "token",
    "amounts",
    "too few amounts",
    "fee",
    "review period",
]


def rekeyed(e: Escrowed, k: int) -> bool:
    """The escrow row now uses contract pk + k·2**128 (checked in the database)."""
    fresh = e.contract.pk + k * REKEY_STRIDE
    return ChainEscrow.objects.filter(pk=e.escrow.pk, onchain_id=fresh).exists()


@pytest.mark.parametrize("case", CASES)
def test_creation_with_other_terms_is_ignored_and_the_contract_moves_to_a_fresh_id(
    eth: Escrowed, case: str
) -> None:
    terms, words = wrong_terms(eth, case)
    squatted = eth.contract.pk
    eth.create(**terms)
    (row,) = eth.sync()
    assert row.status == IGNORED
    assert words in row.note
    assert row.escrow == eth.escrow
    assert row.transfer_keys == []
    eth.escrow.refresh_from_db()
    assert eth.escrow.status == ChainEscrow.Status.AWAITING
    assert eth.escrow.rejected_ids == [str(squatted)]
    assert rekeyed(eth, 1)
    assert row.undo["onchain_id"] == str(squatted)
    assert "did not match the contract" in activity(eth.contract)[-1]

    # The client's wallet creates the real escrow under the fresh id: accepted.
    eth.create(contract_id=squatted + REKEY_STRIDE)
    (accepted,) = eth.sync()
    assert (accepted.status, accepted.note) == (APPLIED, "")
    eth.escrow.refresh_from_db()
    assert eth.escrow.status == ChainEscrow.Status.CREATED
    assert eth.escrow.created_tx == accepted.tx_hash


def test_the_squatters_events_are_ignored_and_ours_apply(eth: Escrowed) -> None:
    a = eth.rail.accounts
    squatted = eth.contract.pk
    eth.create(sender=a.stranger)  # the stranger is the client of this escrow
    eth.sync()
    eth.rail.chain.send(eth.rail.escrow.functions.fund(squatted, 0), a.stranger, value=10**18)
    (funded,) = eth.sync()
    assert (funded.event, funded.status) == ("Funded", IGNORED)
    assert f"Escrow {squatted} is not one of ours" in funded.note
    assert eth.milestone(0).status == S.DRAFT
    assert not Transfer.objects.exists()

    eth.create(contract_id=squatted + REKEY_STRIDE)
    eth.fund(0, onchain_id=squatted + REKEY_STRIDE)
    created, ours = eth.sync()
    assert (created.status, ours.status) == (APPLIED, APPLIED)
    assert eth.milestone(0).status == S.FUNDED
    assert held(eth.milestone(0)) == 10**18


def test_a_second_squat_moves_the_contract_again(eth: Escrowed) -> None:
    a = eth.rail.accounts
    first = eth.contract.pk
    eth.create(sender=a.stranger)
    eth.create(sender=a.stranger, contract_id=first + REKEY_STRIDE)
    rows = eth.sync()
    assert [r.status for r in rows] == [IGNORED, IGNORED]
    eth.escrow.refresh_from_db()
    assert eth.escrow.rejected_ids == [str(first), str(first + REKEY_STRIDE)]
    assert rekeyed(eth, 2)


def test_escrows_of_no_contract_are_ignored(eth: Escrowed) -> None:
    a = eth.rail.accounts
    stranger_id = 987_654_321
    eth.create(contract_id=stranger_id)
    eth.fund(0, onchain_id=stranger_id)
    eth.rail.chain.send(eth.rail.escrow.functions.requestRefund(stranger_id, 0), a.client)
    rows = eth.sync()
    assert [(r.event, r.status) for r in rows] == [
        ("EscrowCreated", IGNORED),
        ("Funded", IGNORED),
        ("RefundRequested", IGNORED),
    ]
    assert rows[0].note == f"No SmartPay contract waits for escrow {stranger_id}."
    assert all(r.escrow is None for r in rows)
    assert not Transfer.objects.exists()
    eth.escrow.refresh_from_db()
    assert eth.escrow.status == ChainEscrow.Status.AWAITING
    assert eth.escrow.rejected_ids == []


def test_a_second_creation_of_an_accepted_escrow_is_ignored(eth: Escrowed) -> None:
    eth.create()
    (row,) = eth.sync()
    again = ChainLog(
        chain_id=row.chain_id,
        address=row.address,
        tx_hash="0x" + "ee" * 32,
        log_index=0,
        block_number=row.block_number + 1,
        block_hash="0x" + "dd" * 32,
        event="EscrowCreated",
        args={**row.args, "feeBps": "1"},
    )
    apply_log(again)
    assert again.status == IGNORED
    assert "already created" in again.note
    eth.escrow.refresh_from_db()
    assert eth.escrow.status == ChainEscrow.Status.CREATED
    assert eth.escrow.rejected_ids == []


def test_owner_events_change_nothing(eth: Escrowed) -> None:
    a = eth.rail.accounts
    eth.transact(eth.rail.escrow.functions.pause(), a.owner)
    (row,) = eth.sync()
    assert (row.event, row.status) == ("Paused", IGNORED)
    assert row.note == "Paused changes nothing in SmartPay's records."
    assert row.pk is not None


def test_milestone_amounts_are_compared_in_escrow_order(chain_rail: Any) -> None:
    """milestone_ids fixes on-chain index i; creation must list amounts in that order."""
    e = escrowed(chain_rail, "usdc", (5_000_000, 7_000_000))
    ids = list(reversed(e.escrow.milestone_ids))
    e.escrow.milestone_ids = ids
    e.escrow.save(update_fields=["milestone_ids"])
    e.create(amounts=[5_000_000, 7_000_000])  # position order, not escrow order
    (row,) = e.sync()
    assert row.status == IGNORED
    assert "amounts ['5000000', '7000000'] are not ['7000000', '5000000']" in row.note
    e.create(contract_id=e.contract.pk + REKEY_STRIDE, amounts=[7_000_000, 5_000_000])
    (accepted,) = e.sync()
    assert accepted.status == APPLIED
    e.fund(0, onchain_id=e.contract.pk + REKEY_STRIDE)
    (funded,) = e.sync()
    assert funded.status == APPLIED
    assert Milestone.objects.get(pk=ids[0]).status == S.FUNDED
    assert Milestone.objects.get(pk=ids[1]).status == S.DRAFT
