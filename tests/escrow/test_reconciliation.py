"""Reconciliation: a clean report after a whole money journey, and drift or broken
invariants found, reported in words and sent to staff."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client

from escrow import ledger
from escrow.models import (
    Funding,
    LedgerAccount,
    Payout,
    ReconciliationReport,
    SandboxObject,
    Transfer,
)
from escrow.rails import events, sandbox
from escrow.services import funding as funding_services
from escrow.services import payouts, refunds, release, webhooks
from escrow.services.reconciliation import describe_drift, reconcile
from marketplace.models import Milestone, User
from tests.escrow.money import card_contract, enable_payouts, first_milestone, fund, submit
from tests.factories import fund_for_test, make_contract, make_job, make_proposal

pytestmark = pytest.mark.django_db
ADMINS = [("Ops", "ops@smartpay.test")]


def connected(freelancer: User) -> None:
    """The freelancer's payout account, onboarded on the sandbox."""
    enable_payouts(freelancer)


def requested_payout(freelancer: User) -> Payout:
    """The freelancer's whole available balance, requested (the ledger moves at once)."""
    connected(freelancer)
    return payouts.request_payout(
        actor=freelancer, currency="usd", amount=None, request_key="all-of-it"
    )


def money_journey() -> tuple[Milestone, Milestone]:
    """Two card payments; one milestone released and paid out, the other refunded to
    the card. Leaves the 10 % fee (100.00) at the provider and in our fee account."""
    contract = card_contract((100_000, 150_000))
    released, refunded = contract.milestones.order_by("position")
    submit(fund(released))
    done = release.approve_milestone(actor=contract.client, milestone_id=released.pk)
    release.make_releases_available(now=done.available_at)
    payout = requested_payout(contract.freelancer)
    payouts.send_payout(payout_id=payout.pk)
    fund(refunded)
    refund = refunds.refund_milestone(
        actor=contract.freelancer, milestone_id=refunded.pk, destination="card"
    )
    refunds.send_card_refund(refund_id=refund.pk)
    return released, refunded


def balance_transactions(kind: str) -> list[SandboxObject]:
    return [
        row
        for row in SandboxObject.objects.filter(kind="balance_transaction")
        if row.data["type"] == kind
    ]


def test_a_whole_money_journey_reconciles_clean(settings):
    settings.ADMINS = ADMINS
    money_journey()
    report = reconcile()
    assert report.ok, report.problems
    assert report.problems == []
    assert report.drift == {
        "card:usd": {"ledger": 10_000, "provider": 10_000, "in_flight": 0, "drift": 0}
    }
    assert report.finished_at is not None
    assert report.checked_provider_entries == 4  # two charges, a transfer, a refund
    assert report.checked_transfers == Transfer.objects.count()
    assert mail.outbox == []
    assert describe_drift(report) == [
        "card:usd: the ledger says $100.00 came in through the rail, the provider $100.00"
        " — no drift."
    ]


def test_a_payout_not_yet_sent_is_in_flight_not_drift():
    contract = card_contract((100_000,))
    milestone = submit(fund(first_milestone(contract)))
    done = release.approve_milestone(actor=contract.client, milestone_id=milestone.pk)
    release.make_releases_available(now=done.available_at)
    requested_payout(contract.freelancer)  # the worker has not sent it yet
    report = reconcile()
    assert report.ok, report.problems
    assert report.drift["card:usd"] == {
        "ledger": 10_000,
        "provider": 100_000,
        "in_flight": 90_000,
        "drift": 0,
    }


def test_a_missing_provider_transfer_is_drift_reported_to_staff(settings, caplog):
    settings.ADMINS = ADMINS
    money_journey()
    [transfer] = balance_transactions("transfer")
    transfer.delete()  # the provider never moved the payout
    with caplog.at_level(logging.ERROR, logger="escrow.services.reconciliation"):
        report = reconcile()
    assert not report.ok
    assert report.drift["card:usd"]["drift"] == 90_000
    assert any("drift of $900.00" in problem for problem in report.problems)
    assert len(mail.outbox) == 1
    assert "drift of $900.00" in str(mail.outbox[0].body)
    assert mail.outbox[0].to == ["ops@smartpay.test"]
    assert any(record.levelno == logging.ERROR for record in caplog.records)
    assert ReconciliationReport.objects.get(pk=report.pk).ok is False


def test_a_charge_no_funding_asked_for_is_named():
    money_journey()
    SandboxObject.objects.create(
        object_id="txn_stray",
        kind="balance_transaction",
        data={
            "id": "txn_stray",
            "type": "charge",
            "amount": 4_200,
            "currency": "usd",
            "source": "ch_stray",
            "created": 1,
        },
    )
    report = reconcile()
    assert report.drift["card:usd"]["drift"] == 4_200
    assert any("ch_stray" in problem and "$42.00" in problem for problem in report.problems)


def paid_at_checkout() -> tuple[Funding, bytes, str]:
    """A card payment made on the sandbox's checkout page; returns the funding and
    the signed payment_intent.succeeded delivery Stripe (or the sandbox) sends."""
    contract = card_contract((100_000,))
    funding = funding_services.start_funding(
        actor=contract.client, milestone_ids=[first_milestone(contract).pk], request_key="pay"
    )
    assert funding.payment_intent_id
    sandbox.confirm_payment(funding.payment_intent_id, sandbox.SUCCEEDING_CARD)
    intent = SandboxObject.objects.get(object_id=funding.payment_intent_id).data
    body = events.encode_event(events.build_event("payment_intent.succeeded", intent))
    return funding, body, events.sign_payload(body, settings.STRIPE_WEBHOOK_SECRET)


def test_a_charge_before_its_webhook_is_drift_until_the_event_arrives():
    _, body, signature = paid_at_checkout()
    report = reconcile()
    assert report.drift["card:usd"]["drift"] == 100_000
    assert any("no payment_intent.succeeded event" in problem for problem in report.problems)
    response = Client().post(
        "/webhooks/stripe/",
        body,
        content_type="application/json",
        headers={"Stripe-Signature": signature},
    )
    assert response.status_code == 200
    assert reconcile().ok


def test_a_charge_whose_success_event_was_not_processed_is_named():
    funding, body, signature = paid_at_checkout()
    event = webhooks.record_event(body, signature)  # stored; its handler has not run
    report = reconcile()
    assert any(
        f"funding {funding.pk}" in problem and "has not been processed" in problem
        for problem in report.problems
    )
    webhooks.process_event(event.event_id)
    assert reconcile().ok


def test_a_transfer_row_written_around_the_ledger_is_found():
    contract = card_contract((100_000,))
    fund(first_milestone(contract))
    client_available = ledger.user_account(contract.client, LedgerAccount.Kind.AVAILABLE, "usd")
    # Corruption: a transfer row whose balances were never moved.
    Transfer.objects.create(
        idempotency_key="corrupt:1",
        source=ledger.fee_account("usd"),
        destination=client_available,
        amount=Decimal(500),
        currency="usd",
    )
    report = reconcile()
    assert not report.ok
    assert any("but its transfers say" in problem for problem in report.problems)


def test_escrow_that_does_not_match_the_milestone_is_found(settings):
    settings.ADMINS = ADMINS
    milestone = fund(first_milestone(card_contract((100_000,))))
    client = milestone.contract.client
    # Balanced, but it takes money out of a funded milestone's escrow behind its back.
    ledger.move(
        source=ledger.escrow_account(milestone),
        destination=ledger.user_account(client, LedgerAccount.Kind.AVAILABLE, "usd"),
        amount=1_000,
        key="corrupt:escrow",
    )
    report = reconcile()
    assert not report.ok
    assert report.problems == [
        f"Milestone {milestone.pk} “{milestone.title}” is funded: its escrow should hold "
        "$1,000.00 but holds $990.00."
    ]
    assert len(mail.outbox) == 1


def test_a_funded_card_milestone_without_escrow_is_found_but_a_chain_one_is_not():
    card = fund_for_test(first_milestone(card_contract((100_000,))))
    eth_job = make_job(currency="eth", budget=10**18)
    chain = fund_for_test(first_milestone(make_contract(make_proposal(eth_job, amounts=(10**17,)))))
    report = reconcile()
    assert report.problems == [
        f"Milestone {card.pk} “{card.title}” is funded but nothing is in escrow for it "
        "(it should hold $1,000.00)."
    ]
    assert all(f"Milestone {chain.pk} " not in problem for problem in report.problems)


def test_an_unreachable_provider_is_a_problem_not_a_crash(fake_stripe, settings):
    settings.ADMINS = ADMINS
    fake_stripe.fail_next("/v1/balance_transactions", 500, times=5)
    report = reconcile()
    assert not report.ok
    assert report.drift == {}
    assert report.problems[0].startswith("Could not read the card provider's balance")
    assert mail.outbox == []  # an outage is not a breach; the next run tries again


def test_reconciliation_against_the_stripe_api_agrees_after_a_payment(fake_stripe):
    contract = card_contract((100_000,))
    milestone = first_milestone(contract)
    funding = funding_services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="stripe"
    )
    assert funding.provider == "stripe"
    assert funding.payment_intent_id
    fake_stripe.succeed_payment(funding.payment_intent_id)
    report = reconcile()  # charged, but the webhook has not arrived yet
    assert report.drift["card:usd"]["drift"] == 100_000
    funding_services.confirm_funding(
        payment_intent_id=funding.payment_intent_id, amount_received=100_000, currency="usd"
    )
    assert Funding.objects.get(pk=funding.pk).status == Funding.Status.SUCCEEDED
    report = reconcile()
    assert report.ok, report.problems
    assert report.drift["card:usd"]["provider"] == 100_000


# --- the management command --------------------------------------------------------------------


def test_reconcile_command_prints_the_report_in_words(capsys):
    money_journey()
    call_command("reconcile", "--fail-on-drift")
    out = capsys.readouterr().out
    assert "checked" in out
    assert "provider balance transaction(s)" in out
    assert "card:usd: the ledger says $100.00 came in through the rail" in out
    assert "Ledger and card rail agree." in out


def test_reconcile_command_fails_on_drift_only_when_asked(capsys):
    money_journey()
    [refund] = balance_transactions("refund")
    refund.delete()
    call_command("reconcile")  # reports, exit status 0
    captured = capsys.readouterr()
    assert "PROBLEM Card rail, USD" in captured.err
    assert "problem(s) found" in captured.out
    with pytest.raises(CommandError, match=r"problem\(s\) found"):
        call_command("reconcile", "--fail-on-drift")
    assert ReconciliationReport.objects.filter(ok=False).count() == 2
