"""Reconciliation of the chain rail: the ledger (as chain sync built it) against the
escrow contract's views, in the same report as the card rail."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from escrow import ledger
from escrow.chain.sync import sync_chain
from escrow.models import LedgerAccount
from escrow.services.reconciliation import describe_drift, reconcile
from marketplace.models import Milestone
from marketplace.money import Rail
from tests.chain.agreement import OpenEscrow, open_escrow
from tests.chain.conftest import ETH, Chain, _free_port
from tests.chain.rail import ChainRail

pytestmark = pytest.mark.django_db


@pytest.fixture
def settled(chain_rail: ChainRail, chain: Chain, settings: Any) -> OpenEscrow:
    """An ETH escrow with one milestone released and withdrawn by the freelancer and one
    still funded, all read by chain sync."""
    settings.ADMINS = [("Ops", "ops@smartpay.test")]
    opened = open_escrow(chain_rail)
    accounts = chain_rail.accounts
    chain.fund(opened.onchain_id, 0)
    chain.fund(opened.onchain_id, 1)
    amount = int(opened.milestone(0).amount)
    chain.send(chain.escrow.functions.release(opened.onchain_id, 0, amount), accounts.client)
    chain.send(chain.escrow.functions.withdraw(ETH, accounts.freelancer), accounts.freelancer)
    sync_chain()
    assert opened.milestone(0).status == Milestone.Status.RELEASED
    return opened


def test_a_ledger_that_agrees_with_the_contract_reports_no_chain_drift(
    settled: OpenEscrow, chain: Chain
) -> None:
    report = reconcile()
    assert report.ok, report.problems
    treasury_fees = chain.credit(chain.accounts.treasury)
    assert treasury_fees > 0
    assert report.drift["chain:eth"] == {
        "ledger": treasury_fees,
        "provider": treasury_fees,
        "drift": 0,
    }
    assert any(
        line.startswith("chain:eth:") and "no drift" in line for line in describe_drift(report)
    )


def test_chain_activity_sync_has_not_read_yet_is_not_drift(
    settled: OpenEscrow, chain: Chain, chain_rail: ChainRail
) -> None:
    chain.dispute(settled.onchain_id, 1)
    chain.send(
        chain.escrow.functions.resolve(settled.onchain_id, 1, 5_000), chain_rail.accounts.arbiter
    )
    report = reconcile()  # read at the block sync applied, before the dispute
    assert report.ok, report.problems
    sync_chain()
    report = reconcile()
    assert report.ok, report.problems
    assert settled.milestone(1).status == Milestone.Status.RESOLVED


def test_a_tampered_ledger_balance_is_reported_as_chain_drift(settled: OpenEscrow) -> None:
    freelancer = settled.contract.freelancer
    ledger.move(  # a transfer no chain event caused
        source=ledger.external_account(Rail.CHAIN, "eth"),
        destination=ledger.user_account(freelancer, LedgerAccount.Kind.AVAILABLE, "eth"),
        amount=7,
        key="test-only:tamper",
        memo="tampering for a test",
    )
    report = reconcile()
    assert not report.ok
    assert report.drift["chain:eth"]["drift"] == -7
    assert any("Chain rail, ETH" in problem and "drift" in problem for problem in report.problems)
    assert any("drift" in line and "chain:eth" in line for line in describe_drift(report))
    assert mail.outbox  # a breach reaches the admins


def test_a_milestone_whose_status_disagrees_with_the_contract_is_reported(
    settled: OpenEscrow,
) -> None:
    Milestone.objects.filter(pk=settled.milestone(1).pk).update(status=Milestone.Status.SUBMITTED)
    report = reconcile()
    assert not report.ok
    assert any("is Funded on chain but submitted here" in problem for problem in report.problems), (
        report.problems
    )


def test_escrow_held_that_disagrees_with_held_amount_is_reported(settled: OpenEscrow) -> None:
    client = settled.contract.client
    ledger.move(
        source=ledger.escrow_account(settled.milestone(1)),
        destination=ledger.user_account(client, LedgerAccount.Kind.AVAILABLE, "eth"),
        amount=10**12,  # a round figure: SQLite's own sums are floats
        key="test-only:leak",
    )
    report = reconcile()
    assert any("heldAmount is" in problem for problem in report.problems), report.problems
    assert any("the contract holds" in problem for problem in report.problems)


def test_a_node_that_is_down_leaves_the_chain_unchecked_and_the_card_checks_running(
    settled: OpenEscrow, settings: Any
) -> None:
    settings.CHAIN_RPC_URL = f"http://127.0.0.1:{_free_port()}"
    report = reconcile()
    assert not report.ok
    assert [p for p in report.problems if p.startswith("Chain not checked: ")] == report.problems
    assert "chain:eth" not in report.drift
    assert report.checked_transfers > 0  # the ledger's own checks ran
    assert not mail.outbox  # not a breach: nothing is known to be wrong


def test_with_no_chain_rail_configured_the_report_says_nothing_of_it(
    db: None, settings: Any
) -> None:
    settings.CHAIN_RPC_URL = ""
    report = reconcile()
    assert report.ok
    assert not any(key.startswith("chain:") for key in report.drift)
