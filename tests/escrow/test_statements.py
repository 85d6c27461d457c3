"""Reads: balances, the statement (lines in words, running balances, filters, CSV) and
the workroom panel's view of a contract. Query counts stay fixed as data grows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from escrow import ledger, selectors
from escrow.models import EscrowHold, LedgerAccount, Refund, Transfer
from escrow.services import payouts as payout_services
from escrow.services import refunds as refund_services
from escrow.services import release as release_services
from escrow.statements_csv import csv_rows
from marketplace.models import Milestone
from marketplace.money import Rail
from tests.escrow.money import (
    card_contract,
    enable_payouts,
    first_milestone,
    fund,
    pay_by_card,
    submit,
    top_up,
)
from tests.factories import verified_user

pytestmark = pytest.mark.django_db


def descriptions(user, **filters) -> list[tuple[str, int, str]]:
    return [
        (line.description, line.amount, line.account_kind)
        for line in selectors.transactions(user, **filters)
    ]


def released(amount: int | None = None) -> Milestone:
    milestone = submit(fund(first_milestone(card_contract())))
    release_services.approve_milestone(
        actor=milestone.contract.client, milestone_id=milestone.pk, amount=amount
    )
    return milestone


def queries_for(action) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


def enabled_payout_account(user) -> None:
    enable_payouts(user)


# --- balances -------------------------------------------------------------------------------


def test_balances_show_available_pending_with_its_date_and_escrow_on_both_sides():
    milestone = released()
    contract = milestone.contract
    fund(contract.milestones.get(position=2))
    top_up(contract.client, 1_234)

    (freelancer_usd,) = selectors.balances(contract.freelancer)
    assert freelancer_usd["currency"] == "usd"
    assert (freelancer_usd["available"], freelancer_usd["pending"]) == (0, 90_000)
    assert freelancer_usd["pending_display"] == "$900.00"
    assert freelancer_usd["incoming"] == 150_000  # in escrow for their work
    assert (
        freelancer_usd["next_available_at"]
        == contract.milestones.get(position=1).release.available_at
    )
    assert freelancer_usd["pending_releases"][0]["milestone_title"] == "Milestone 1"

    (client_usd,) = selectors.balances(contract.client)
    assert client_usd["available_display"] == "$12.34"
    assert client_usd["in_escrow"] == 150_000
    assert client_usd["in_escrow_display"] == "$1,500.00"
    assert client_usd["pending"] == 0


def test_balances_of_a_newcomer_are_empty():
    assert selectors.balances(verified_user()) == []


def test_balances_take_the_same_queries_for_many_currencies_and_releases():
    user = verified_user()
    top_up(user, 100)
    few = queries_for(lambda: selectors.balances(user))
    for currency in ("eur", "gbp"):
        top_up(user, 100, currency)
    for _ in range(3):
        released()
    assert queries_for(lambda: selectors.balances(user)) == few == 4


# --- statement lines in words ---------------------------------------------------------------


def test_client_statement_tells_the_card_payment_and_the_funding():
    contract = card_contract()
    pay_by_card(list(contract.milestones.all()))
    assert descriptions(contract.client) == [
        ("Funded milestone “Milestone 2”", -150_000, "available"),
        ("Funded milestone “Milestone 1”", -100_000, "available"),
        ("Card payment for “Milestone 1” and 1 more", 250_000, "available"),
    ]
    lines = selectors.transactions(contract.client)[:3]
    assert [line.balance_after for line in lines] == [0, 150_000, 250_000]
    assert lines[2].amount_display == "+$2,500.00"
    assert lines[0].amount_display == "\u2212$1,500.00"
    assert lines[2].type == "card_payment"
    assert lines[2].reference.startswith("charge:")


def test_freelancer_statement_tells_release_fee_hold_and_payout():
    milestone = released()
    freelancer = milestone.contract.freelancer
    release = milestone.release
    (line,) = selectors.transactions(freelancer)
    day = timezone.localtime(release.available_at).strftime("%-d %b %Y")
    assert line.description == (
        f"Released from “Milestone 1”: $1,000.00 less $100.00 platform fee (pending until {day})"
    )
    assert (line.amount, line.account_kind, line.balance_after) == (90_000, "pending", 90_000)

    release_services.make_releases_available(now=release.available_at + timedelta(seconds=1))
    enabled_payout_account(freelancer)
    payout = payout_services.request_payout(
        actor=freelancer, currency="usd", amount=40_000, request_key="p"
    )
    assert descriptions(freelancer)[:3] == [
        (f"Payout to your bank account (payout {payout.pk})", -40_000, "available"),
        ("Now available to pay out: “Milestone 1”", 90_000, "available"),
        ("Payout hold ended for “Milestone 1”: moved to available", -90_000, "pending"),
    ]
    newest = selectors.transactions(freelancer)[0]
    assert newest.balance_after == 50_000


def test_returned_remainder_and_refunds_are_told_to_the_client():
    partly = released(amount=60_000)
    client = partly.contract.client
    assert descriptions(client)[0] == (
        "Unreleased part of “Milestone 1” returned to you",
        40_000,
        "available",
    )

    refunded = fund(partly.contract.milestones.get(position=2))
    refund = refund_services.refund_milestone(
        actor=partly.contract.freelancer, milestone_id=refunded.pk, destination="card"
    )
    assert descriptions(client)[:2] == [
        ("Refund of “Milestone 2” sent to your card", -150_000, "available"),
        ("Refund of “Milestone 2”", 150_000, "available"),
    ]
    # The card refund fails for good (charge.refunded reports it): the money comes back.
    Refund.objects.filter(pk=refund.pk).update(provider_refund_id="re_failing")
    refund_services.confirm_card_refund(provider_refund_id="re_failing", status="failed")
    assert descriptions(client)[0] == (
        "Card refund of “Milestone 2” failed: back in your balance",
        150_000,
        "available",
    )


def test_payout_returned_after_a_failure_is_a_credit():
    user = verified_user(is_client=False, is_freelancer=True)
    top_up(user, 5_000)
    ledger.move(
        source=ledger.user_account(user, LedgerAccount.Kind.AVAILABLE, "usd"),
        destination=ledger.external_account(Rail.CARD, "usd"),
        amount=5_000,
        key="payout:77",
    )
    ledger.move(
        source=ledger.external_account(Rail.CARD, "usd"),
        destination=ledger.user_account(user, LedgerAccount.Kind.AVAILABLE, "usd"),
        amount=5_000,
        key="payout-return:77",
        memo="Payout 77 failed",
    )
    assert descriptions(user)[:2] == [
        ("Payout returned: payout 77 failed", 5_000, "available"),
        ("Payout to your bank account (payout 77)", -5_000, "available"),
    ]


def test_an_unknown_cause_is_described_by_its_memo():
    user = verified_user()
    ledger.move(
        source=ledger.external_account(Rail.CARD, "usd"),
        destination=ledger.user_account(user, LedgerAccount.Kind.AVAILABLE, "usd"),
        amount=700,
        key="goodwill:1",
        memo="Goodwill credit from support",
    )
    (line,) = selectors.transactions(user)
    assert (line.type, line.description) == ("other", "Goodwill credit from support")


def test_other_peoples_money_is_not_on_your_statement():
    contract = card_contract()
    pay_by_card([first_milestone(contract)])
    assert list(selectors.transactions(contract.freelancer)) == []
    assert len(selectors.transactions(verified_user())) == 0


# --- filters ------------------------------------------------------------------------------


def test_filters_by_currency_account_and_inclusive_dates():
    user = verified_user()
    top_up(user, 100, "usd")
    top_up(user, 200, "eur")
    ledger.move(
        source=ledger.external_account(Rail.CARD, "usd"),
        destination=ledger.user_account(user, LedgerAccount.Kind.PENDING, "usd"),
        amount=300,
        key="test-pending",
    )
    old = timezone.now() - timedelta(days=10)
    Transfer.objects.filter(destination__owner=user, currency="eur").update(created_at=old)

    assert [line.amount for line in selectors.transactions(user, currency="eur")] == [200]
    assert [line.amount for line in selectors.transactions(user, kind="pending")] == [300]
    assert [
        line.amount for line in selectors.transactions(user, currency="usd", kind="available")
    ] == [100]
    day = timezone.localtime(old).date()
    assert [line.amount for line in selectors.transactions(user, since=day, until=day)] == [200]
    assert len(selectors.transactions(user, since=day + timedelta(days=1))) == 2
    assert len(selectors.transactions(user, until=day - timedelta(days=1))) == 0


# --- running balances across pages ----------------------------------------------------------


def test_running_balance_is_right_on_every_page_even_when_a_page_splits_a_transfer():
    milestone = released()
    freelancer = milestone.contract.freelancer
    release_services.make_releases_available(
        now=milestone.release.available_at + timedelta(seconds=1)
    )
    top_up(freelancer, 1_000)
    top_up(freelancer, 2_000)
    statement = selectors.transactions(freelancer)
    everything = list(statement)
    for size in (1, 2, 3):
        paged = [
            line
            for start in range(0, len(statement), size)
            for line in statement[start : start + size]
        ]
        assert [(line.reference, line.account_kind, line.balance_after) for line in paged] == [
            (line.reference, line.account_kind, line.balance_after) for line in everything
        ]
    by_kind = {"available": 0, "pending": 0}
    for line in reversed(everything):
        by_kind[line.account_kind] += line.amount
        assert line.balance_after == by_kind[line.account_kind]
    assert by_kind == {"available": 93_000, "pending": 0}


def test_running_balance_ignores_the_date_filter():
    user = verified_user()
    top_up(user, 100)
    Transfer.objects.filter(destination__owner=user).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    top_up(user, 50)
    (line,) = selectors.transactions(user, since=timezone.localdate())
    assert (line.amount, line.balance_after) == (50, 150)


# --- query counts ---------------------------------------------------------------------------


def _statement_page(user) -> list:
    statement = selectors.transactions(user)
    len(statement)
    return statement[0:50]


def _busy_contract(milestones: int):
    """Every kind of line: card payments, fundings, releases, returns, card refunds."""
    contract = card_contract(amounts=(1_000,) * (milestones + 1))
    *released_ones, refunded = contract.milestones.order_by("position")
    for milestone in released_ones:
        submit(fund(milestone))
        release_services.approve_milestone(
            actor=contract.client, milestone_id=milestone.pk, amount=600
        )
    refund_services.refund_milestone(
        actor=contract.freelancer, milestone_id=fund(refunded).pk, destination="card"
    )
    return contract


def test_a_statement_page_takes_the_same_queries_for_few_or_many_lines():
    small, big = _busy_contract(1), _busy_contract(8)
    assert len(selectors.transactions(big.client)) > 3 * len(selectors.transactions(small.client))
    for role in ("client", "freelancer"):
        few = queries_for(lambda role=role: _statement_page(getattr(small, role)))
        many = queries_for(lambda role=role: _statement_page(getattr(big, role)))
        assert few == many
    # Accounts, count, page, two balance sums, and one query per kind of cause.
    assert queries_for(lambda: _statement_page(big.client)) <= 10


# --- CSV ------------------------------------------------------------------------------------


def test_csv_has_one_row_per_line_in_major_units():
    contract = card_contract()
    pay_by_card([first_milestone(contract)])
    text = "".join(csv_rows(selectors.transactions(contract.client)))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "date",
        "description",
        "type",
        "account",
        "currency",
        "amount",
        "balance_after",
        "reference",
    ]
    funded, charged = rows[1], rows[2]
    assert funded[1:5] == ["Funded milestone “Milestone 1”", "funding", "available", "USD"]
    assert (funded[5], funded[6]) == ("-1000.00", "0.00")
    assert (charged[5], charged[6]) == ("1000.00", "1000.00")
    assert charged[7].startswith("charge:pi_")


def test_csv_cells_starting_with_a_formula_character_are_quoted():
    user = verified_user()
    ledger.move(
        source=ledger.external_account(Rail.CARD, "usd"),
        destination=ledger.user_account(user, LedgerAccount.Kind.AVAILABLE, "usd"),
        amount=100,
        key="other:1",
        memo="=cmd|' /C calc'!A0",
    )
    rows = list(csv.reader(io.StringIO("".join(csv_rows(selectors.transactions(user))))))
    assert rows[1][1] == "'=cmd|' /C calc'!A0"


# --- the workroom panel's view ----------------------------------------------------------------


def actions(money) -> dict[int, set[str]]:
    return {entry.milestone.position: entry.actions for entry in money.milestones}


def test_panel_actions_follow_each_partys_role_and_the_milestone_state():
    contract = card_contract(amounts=(1_000, 2_000, 3_000))
    one, two, three = contract.milestones.order_by("position")
    fund(one)
    submit(fund(two))
    client = selectors.contract_money(contract, contract.client)
    assert actions(client) == {1: {"request_refund"}, 2: {"approve"}, 3: {"fund"}}
    assert [entry.milestone.pk for entry in client.fundable] == [three.pk]
    freelancer = selectors.contract_money(contract, contract.freelancer)
    assert actions(freelancer) == {1: {"refund"}, 2: set(), 3: set()}

    refund_services.request_refund(actor=contract.client, milestone_id=one.pk, reason="x")
    assert actions(selectors.contract_money(contract, contract.client))[1] == {"withdraw_request"}
    assert actions(selectors.contract_money(contract, contract.freelancer))[1] == {
        "accept_request",
        "decline_request",
    }

    EscrowHold.objects.create(milestone=two, reason="chargeback", cause="dp_1")
    held = selectors.contract_money(contract, contract.client)
    assert actions(held)[2] == set()
    assert held.milestones[1].frozen
    assert held.milestones[1].escrow == 2_000


def test_panel_knows_a_pending_card_payment_and_hides_fund_for_its_milestones():
    from escrow.services import funding as funding_services

    contract = card_contract()
    milestone = first_milestone(contract)
    funding_services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="panel"
    )
    money = selectors.contract_money(contract, contract.client)
    assert money.waiting_for_payment
    assert actions(money) == {1: set(), 2: {"fund"}}


def test_panel_reads_take_the_same_queries_for_2_or_12_milestones():
    small = card_contract()
    fund(first_milestone(small))
    few = queries_for(lambda: selectors.contract_money(small, small.client))
    big = card_contract(amounts=(1_000,) * 12)
    for milestone in list(big.milestones.all())[:6]:
        fund(milestone)
    assert queries_for(lambda: selectors.contract_money(big, big.client)) == few
