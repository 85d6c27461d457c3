"""The whole card journey through the real Stripe SDK and the fake Stripe server,
with every confirmation arriving as a signed event at the real webhook endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from escrow import ledger
from escrow.models import Funding, Payout, PayoutAccount, Refund, Transfer, WebhookEvent
from escrow.rails.events import build_event, encode_event, sign_payload
from escrow.services import funding, payout_accounts, payouts, reconciliation, refunds, release
from marketplace.models import Milestone
from tests.escrow.money import balance, card_contract, submit

pytestmark = pytest.mark.django_db


def deliver(event_type: str, data_object: dict) -> WebhookEvent:
    """POST a signed event to /webhooks/stripe/ exactly as Stripe does."""
    event = build_event(event_type, data_object)
    payload = encode_event(event)
    answer = Client().post(
        "/webhooks/stripe/",
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_payload(payload, settings.STRIPE_WEBHOOK_SECRET),
    )
    assert answer.status_code == 200, answer.content
    return WebhookEvent.objects.get(event_id=event["id"])


def test_fund_release_refund_payout_and_reconcile_on_stripe(fake_stripe, client):
    contract = card_contract()
    first, second = contract.milestones.order_by("position")

    # The client pays both milestones in one PaymentIntent.
    paying = funding.start_funding(
        actor=contract.client, milestone_ids=[first.pk, second.pk], request_key="pay-1"
    )
    assert paying.provider == "stripe"
    [created] = fake_stripe.posts("/v1/payment_intents")
    assert created.idempotency_key == f"funding-{paying.pk}"
    assert created.params["metadata"]["milestone_ids"] == f"{first.pk},{second.pk}"
    client.force_login(contract.client)
    page = client.get(paying.checkout_url)
    assert page.status_code == 200
    assert paying.client_secret in page.content.decode()
    assert "js.stripe.com" in page.headers["Content-Security-Policy"]

    # The browser's payment is not enough: only the signed event funds.
    intent = fake_stripe.succeed_payment(paying.payment_intent_id)
    first.refresh_from_db()
    assert first.status == Milestone.Status.DRAFT
    event = deliver("payment_intent.succeeded", intent)
    assert event.status == WebhookEvent.Status.SUCCEEDED
    deliver("payment_intent.succeeded", intent)  # Stripe sends some events twice
    assert set(contract.milestones.values_list("status", flat=True)) == {"funded"}
    assert Funding.objects.get(pk=paying.pk).status == Funding.Status.SUCCEEDED

    # The freelancer refunds the second milestone to the card: a Stripe Refund.
    refund = refunds.refund_milestone(actor=contract.freelancer, milestone_id=second.pk)
    refund = refunds.send_card_refund(refund_id=refund.pk)
    [refund_call] = fake_stripe.posts("/v1/refunds")
    assert refund_call.idempotency_key == f"refund-{refund.pk}"
    assert refund_call.params["amount"] == str(int(second.amount))
    assert refund.status == Refund.Status.SUCCEEDED

    # Work delivered and approved; the freelancer's share waits out the hold.
    submit(first)
    release.approve_milestone(actor=contract.client, milestone_id=first.pk)
    assert balance(contract.freelancer, "pending") == 90_000
    release.make_releases_available(now=timezone.now() + timedelta(days=6))
    assert balance(contract.freelancer) == 90_000

    # Payouts: Connect onboarding, enabled by account.updated, then a Transfer.
    url = payout_accounts.connect_payout_account(
        actor=contract.freelancer, return_url="https://x/return", refresh_url="https://x/again"
    )
    assert url.startswith("https://")
    account = PayoutAccount.objects.get(user=contract.freelancer)
    deliver("account.updated", fake_stripe.complete_onboarding(account.account_id))
    account.refresh_from_db()
    assert account.payouts_enabled
    payout = payouts.request_payout(
        actor=contract.freelancer, currency="usd", amount=None, request_key="p1"
    )
    payout = payouts.send_payout(payout_id=payout.pk)
    assert payout.status == Payout.Status.PAID
    [transfer] = fake_stripe.of_kind("transfer")
    assert transfer["amount"] == 90_000
    assert transfer["destination"] == account.account_id
    assert balance(contract.freelancer) == 0

    # Our books agree with Stripe's balance transactions, and with themselves.
    report = reconciliation.reconcile()
    assert report.ok, report.problems
    assert report.drift["card:usd"]["drift"] == 0
    assert ledger.find_problems() == []
    assert int(ledger.fee_account("usd").balance) == 10_000
    assert (
        Transfer.objects.filter(idempotency_key=f"charge:{paying.payment_intent_id}").count() == 1
    )


def test_a_stripe_outage_while_funding_is_a_503_and_the_same_key_resumes(fake_stripe, api):
    contract = card_contract()
    milestone = contract.milestones.order_by("position").first()
    assert milestone is not None
    api.force_authenticate(contract.client)
    url = f"/api/v1/milestones/{milestone.pk}/fund/"
    headers = {"Idempotency-Key": "fund-once"}

    fake_stripe.fail_next("/v1/payment_intents", 500, "api_error")
    refused = api.post(url, {"source": "card"}, format="json", headers=headers)
    assert refused.status_code == 503
    assert refused.json()["code"] == "provider_unavailable"
    [waiting] = Funding.objects.all()
    assert waiting.status == Funding.Status.CREATED
    assert not waiting.payment_intent_id

    answered = api.post(url, {"source": "card"}, format="json", headers=headers)
    assert answered.status_code in (200, 201), answered.content
    assert Funding.objects.count() == 1
    [intent] = fake_stripe.of_kind("payment_intent")
    assert answered.json()["payment_intent_id"] == intent["id"]
    # Both calls to Stripe carried the funding's key: a retried call can't charge twice.
    keys = {call.idempotency_key for call in fake_stripe.posts("/v1/payment_intents")}
    assert keys == {f"funding-{waiting.pk}"}
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.DRAFT
