"""The Stripe webhook endpoint: signed exactly as Stripe signs, stored once by event
id, processed idempotently and in any order; failures kept and retried."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from escrow import ledger
from escrow.models import EscrowHold, Funding, Payout, PayoutAccount, Refund, Transfer, WebhookEvent
from escrow.rails import card_provider, events
from escrow.services import funding as funding_services
from escrow.services import refunds as refund_services
from escrow.services.payouts import request_payout, send_payout
from escrow.services.webhooks import (
    MAX_ATTEMPTS,
    process_event,
    record_event,
    retry_failed_events,
)
from marketplace.models import Milestone
from tests.escrow.money import balance, card_contract, first_milestone, intent_of, top_up
from tests.escrow.webhook_helpers import (
    account_of,
    connected_freelancer,
    post_event,
    post_raw,
    signed,
)

pytestmark = pytest.mark.django_db
Status = WebhookEvent.Status


@pytest.fixture(autouse=True)
def _stripe(fake_stripe, eager_tasks):
    yield
    assert ledger.find_problems() == []


def stored(event: dict) -> WebhookEvent:
    return WebhookEvent.objects.get(event_id=event["id"])


def account_event(account_id: str, *, enabled: bool, created: int | None = None) -> dict:
    event = events.build_event(
        "account.updated",
        events.account_object(
            account_id=account_id, payouts_enabled=enabled, details_submitted=enabled
        ),
    )
    if created is not None:
        event["created"] = created
    return event


# --- what the endpoint refuses ----------------------------------------------------------------


def _signed_at(payload: bytes, timestamp: int) -> str:
    return events.sign_payload(payload, settings.STRIPE_WEBHOOK_SECRET, timestamp)


def tampered(event: dict) -> tuple[bytes, str]:
    payload, header = signed(event)
    return payload.replace(b"account.updated", b"account.deleted"), header


@pytest.mark.parametrize(
    "make_request",
    [
        lambda e: (events.encode_event(e), events.sign_payload(events.encode_event(e), "whsec_x")),
        lambda e: (
            events.encode_event(e),
            _signed_at(events.encode_event(e), int(time.time()) - 301),
        ),
        tampered,
        lambda e: (events.encode_event(e), None),
        lambda e: (events.encode_event(e), "t=abc,v1=zzz"),
    ],
    ids=["wrong-secret", "stale-timestamp", "tampered-body", "no-header", "garbage-header"],
)
def test_unverifiable_delivery_is_refused_and_nothing_is_stored(client, make_request):
    event = events.build_event("account.updated", events.account_object(account_id="acct_1"))
    payload, signature = make_request(event)

    response = post_raw(client, payload, signature)

    assert response.status_code == 400
    assert response.json()["code"] == "bad_signature"
    assert set(response.json()) == {"code", "detail"}
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "payload", [b"not json at all", b'{"object": "event"}', b'{"id": "evt_1", "type": "x"}']
)
def test_signed_payload_that_is_not_an_event_is_refused(client, payload):
    response = post_raw(client, payload, _signed_at(payload, int(time.time())))

    assert response.status_code == 400
    assert response.json()["code"] == "bad_payload"
    assert not WebhookEvent.objects.exists()


def test_events_signed_by_the_connect_endpoint_secret_are_accepted_when_configured(
    client, settings
):
    event = account_event("acct_1", enabled=True)
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = ""
    assert post_event(client, event, secret="whsec_connect").status_code == 400

    settings.STRIPE_CONNECT_WEBHOOK_SECRET = "whsec_connect"
    assert post_event(client, event, secret="whsec_connect").status_code == 200
    assert post_event(client, event).status_code == 200  # the platform secret still works
    assert stored(event).deliveries == 2


def test_only_post_is_accepted(client):
    response = client.get("/webhooks/stripe/")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"


# --- storing and processing ---------------------------------------------------------------------


def test_unknown_event_type_is_stored_and_ignored(client):
    event = events.build_event("customer.created", {"id": "cus_1", "object": "customer"})

    response = post_event(client, event)

    assert (response.status_code, response.json()) == (200, {"received": True})
    row = stored(event)
    assert (row.status, row.type, row.attempts, row.payload) == (
        Status.IGNORED,
        "customer.created",
        1,
        event,
    )


def test_duplicate_delivery_is_stored_once_and_processed_once(client, fake_stripe):
    user = connected_freelancer(fake_stripe)
    top_up(user, 9_000)
    payout = request_payout(actor=user, currency="usd", amount=9_000, request_key="k")
    payout = send_payout(payout_id=payout.pk)
    event = events.transfer_reversed_event(
        transfer_id=payout.provider_transfer_id,
        amount=9_000,
        currency="usd",
        destination=account_of(user).account_id,
        amount_reversed=4_000,
    )

    for _ in range(3):
        assert post_event(client, event).status_code == 200

    row = stored(event)
    assert (row.deliveries, row.attempts, row.status) == (3, 1, Status.SUCCEEDED)
    assert Transfer.objects.filter(idempotency_key__startswith="reversal:").count() == 1
    assert balance(user) == 4_000


def test_account_update_enables_payouts_and_an_older_update_arriving_late_is_ignored(
    client, fake_stripe
):
    user = connected_freelancer(fake_stripe, enabled=False)
    account_id = account_of(user).account_id
    now = int(time.time())
    newer = account_event(account_id, enabled=True, created=now)
    older = account_event(account_id, enabled=False, created=now - 60)

    post_event(client, newer)
    post_event(client, older)

    account = account_of(user)
    assert (account.status, account.payouts_enabled) == (PayoutAccount.Status.ENABLED, True)
    assert stored(older).status == Status.SUCCEEDED


def test_account_update_for_an_account_we_do_not_know_changes_nothing(client):
    event = account_event("acct_not_ours", enabled=True)

    post_event(client, event)

    assert stored(event).status == Status.SUCCEEDED
    assert not PayoutAccount.objects.exists()


def test_transfer_reversals_in_any_order_return_the_money_once(client, fake_stripe):
    user = connected_freelancer(fake_stripe)
    top_up(user, 10_000)
    payout = send_payout(
        payout_id=request_payout(actor=user, currency="usd", amount=10_000, request_key="k").pk
    )

    def reversed_event(amount_reversed: int) -> dict:
        return events.transfer_reversed_event(
            transfer_id=payout.provider_transfer_id,
            amount=10_000,
            currency="usd",
            destination=account_of(user).account_id,
            amount_reversed=amount_reversed,
            metadata={"payout_id": str(payout.pk)},
        )

    full, partial = reversed_event(10_000), reversed_event(2_500)
    post_event(client, full)  # the later event overtakes the earlier one
    post_event(client, partial)

    payout.refresh_from_db()
    assert (payout.status, payout.reversed_amount) == (Payout.Status.REVERSED, 10_000)
    assert balance(user) == 10_000
    assert {stored(full).status, stored(partial).status} == {Status.SUCCEEDED}


def test_reversal_before_the_transfer_is_recorded_waits_and_is_retried(client, fake_stripe):
    user = connected_freelancer(fake_stripe)
    top_up(user, 5_000)
    payout = request_payout(actor=user, currency="usd", amount=5_000, request_key="k")
    # Stripe made the transfer and reversed it before our worker recorded the transfer.
    Payout.objects.filter(pk=payout.pk).update(status=Payout.Status.SENDING)
    transfer = card_provider().create_transfer(
        amount=5_000,
        currency="usd",
        destination=account_of(user).account_id,
        metadata={"payout_id": str(payout.pk), "user_id": str(user.pk)},
        idempotency_key=f"payout-{payout.pk}",
    )
    event = events.transfer_reversed_event(
        transfer_id=transfer.id,
        amount=5_000,
        currency="usd",
        destination=transfer.destination,
        amount_reversed=5_000,
        metadata={"payout_id": str(payout.pk)},
    )

    assert post_event(client, event).status_code == 200
    assert stored(event).status == Status.FAILED
    assert "Not recorded yet" in stored(event).error

    Payout.objects.filter(pk=payout.pk).update(status=Payout.Status.QUEUED)
    assert send_payout(payout_id=payout.pk).status == Payout.Status.PAID
    assert retry_failed_events(now=timezone.now() + timedelta(minutes=5)) == 1

    assert stored(event).status == Status.SUCCEEDED
    payout.refresh_from_db()
    assert payout.status == Payout.Status.REVERSED
    assert balance(user) == 5_000


def test_reversal_of_a_transfer_we_never_made_is_processed_without_effect(client):
    event = events.transfer_reversed_event(
        transfer_id="tr_someone_else", amount=100, currency="usd", destination="acct_x"
    )

    post_event(client, event)

    assert stored(event).status == Status.SUCCEEDED
    assert not Transfer.objects.exists()


# --- card payments, refunds, disputes ----------------------------------------------------------


def started_funding() -> tuple[Funding, Milestone]:
    contract = card_contract()
    milestone = first_milestone(contract)
    funding = funding_services.start_funding(
        actor=contract.client, milestone_ids=[milestone.pk], request_key="fund-1"
    )
    return funding, milestone


def paid_event(fake_stripe, funding: Funding) -> dict:
    intent = fake_stripe.succeed_payment(intent_of(funding))
    return events.build_event("payment_intent.succeeded", intent)


def test_payment_succeeded_funds_the_milestone_once_however_often_it_arrives(client, fake_stripe):
    funding, milestone = started_funding()
    event = paid_event(fake_stripe, funding)

    post_event(client, event)
    post_event(client, event)

    milestone.refresh_from_db()
    funding.refresh_from_db()
    assert (milestone.status, funding.status) == (Milestone.Status.FUNDED, Funding.Status.SUCCEEDED)
    assert ledger.escrow_account(milestone).balance == milestone.amount
    assert Transfer.objects.filter(idempotency_key__startswith="charge:").count() == 1
    assert stored(event).deliveries == 2


def test_a_decline_arriving_after_the_success_does_not_undo_it(client, fake_stripe):
    funding, _ = started_funding()
    declined_intent = {
        **fake_stripe.objects[intent_of(funding)],
        "status": "requires_payment_method",
        "last_payment_error": events.card_error("Your card was declined."),
    }
    declined = events.build_event("payment_intent.payment_failed", declined_intent)
    succeeded = paid_event(fake_stripe, funding)

    post_event(client, succeeded)
    post_event(client, declined)

    funding.refresh_from_db()
    assert funding.status == Funding.Status.SUCCEEDED
    assert stored(declined).status == Status.SUCCEEDED


def test_a_declined_card_marks_the_payment_failed_with_the_banks_message(client, fake_stripe):
    funding, milestone = started_funding()
    intent = {
        **fake_stripe.objects[intent_of(funding)],
        "last_payment_error": events.card_error("Your card has insufficient funds."),
    }

    post_event(client, events.build_event("payment_intent.payment_failed", intent))

    funding.refresh_from_db()
    milestone.refresh_from_db()
    assert funding.status == Funding.Status.FAILED
    assert funding.failure_message == "Your card has insufficient funds."
    assert milestone.status == Milestone.Status.DRAFT


def funded_milestone(client, fake_stripe) -> tuple[Funding, Milestone]:
    funding, milestone = started_funding()
    post_event(client, paid_event(fake_stripe, funding))
    milestone.refresh_from_db()
    assert milestone.status == Milestone.Status.FUNDED
    return funding, milestone


def test_refund_event_before_the_refund_is_recorded_is_retried_then_applied(client, fake_stripe):
    funding, milestone = funded_milestone(client, fake_stripe)
    fake_stripe.refund_status = "pending"  # the bank confirms later, by the event
    refund = refund_services.refund_milestone(
        actor=milestone.contract.freelancer, milestone_id=milestone.pk, destination="card"
    )
    # Stripe answered the worker's call and sent the event before the worker recorded it.
    info = card_provider().create_refund(
        payment_intent_id=intent_of(funding),
        amount=int(refund.amount),
        metadata={"refund_id": str(refund.pk), "milestone_id": str(milestone.pk)},
        idempotency_key=f"refund-{refund.pk}",
    )
    refund_object = {**fake_stripe.objects[info.id], "status": "succeeded"}
    charge = fake_stripe.objects[fake_stripe.objects[intent_of(funding)]["latest_charge"]]
    event = events.build_event(
        "charge.refunded",
        events.charge_object(
            charge_id=charge["id"],
            amount=charge["amount"],
            currency="usd",
            payment_intent_id=intent_of(funding),
            refunds=[refund_object],
        ),
    )

    post_event(client, event)
    assert stored(event).status == Status.FAILED

    refund_services.send_card_refund(refund_id=refund.pk)  # records the same provider refund
    refund.refresh_from_db()
    assert (refund.provider_refund_id, refund.status) == (info.id, Refund.Status.PENDING)
    assert retry_failed_events(now=timezone.now() + timedelta(minutes=5)) == 1

    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert stored(event).status == Status.SUCCEEDED
    assert len(fake_stripe.of_kind("refund")) == 1


def test_refund_made_outside_smartpay_is_not_ours_to_record(client):
    refund = events.refund_object(
        refund_id="re_dashboard",
        amount=500,
        currency="usd",
        payment_intent_id="pi_x",
        charge_id="ch_x",
    )
    event = events.build_event(
        "charge.refunded",
        events.charge_object(
            charge_id="ch_x", amount=500, currency="usd", payment_intent_id="pi_x", refunds=[refund]
        ),
    )

    post_event(client, event)

    assert stored(event).status == Status.SUCCEEDED


def test_chargeback_freezes_the_escrow_once(client, fake_stripe, mailoutbox):
    funding, milestone = funded_milestone(client, fake_stripe)
    event = events.dispute_created_event(
        dispute_id="dp_1",
        charge_id="ch_1",
        payment_intent_id=intent_of(funding),
        amount=int(funding.amount),
        currency="usd",
    )

    post_event(client, event)
    post_event(client, event)

    hold = EscrowHold.objects.get()
    assert (hold.milestone_id, hold.cause, hold.lifted_at) == (milestone.pk, "dp_1", None)
    assert stored(event).status == Status.SUCCEEDED


def test_a_won_chargeback_closes_the_freeze(client, fake_stripe):
    funding, _ = funded_milestone(client, fake_stripe)
    dispute: dict[str, Any] = {
        "dispute_id": "dp_2",
        "charge_id": "ch_2",
        "payment_intent_id": intent_of(funding),
        "amount": int(funding.amount),
        "currency": "usd",
    }
    post_event(client, events.dispute_created_event(**dispute))
    closed = events.build_event(
        "charge.dispute.closed", events.dispute_object(**dispute, status="won")
    )

    post_event(client, closed)

    assert EscrowHold.objects.get().lifted_at is not None
    assert stored(closed).status == Status.SUCCEEDED


# --- failures and retries ------------------------------------------------------------------------


def test_a_failing_handler_keeps_the_event_and_still_answers_200(client, fake_stripe):
    funding, _ = started_funding()
    intent = {**paid_event(fake_stripe, funding)["data"]["object"], "currency": "eur"}
    event = events.build_event("payment_intent.succeeded", intent)

    response = post_event(client, event)

    assert response.status_code == 200
    row = stored(event)
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert row.error.startswith(f"DomainError: Payment {intent_of(funding)} reports")
    assert not Transfer.objects.filter(idempotency_key__startswith="charge:").exists()


def test_failed_events_are_retried_with_backoff_up_to_a_limit(client, fake_stripe):
    funding, _ = started_funding()
    intent = {**paid_event(fake_stripe, funding)["data"]["object"], "currency": "eur"}
    event = events.build_event("payment_intent.succeeded", intent)
    post_event(client, event)
    now = timezone.now()

    assert retry_failed_events(now=now) == 0  # backoff not over
    assert retry_failed_events(now=now + timedelta(minutes=2)) == 1
    assert stored(event).attempts == 2

    WebhookEvent.objects.filter(pk=stored(event).pk).update(attempts=MAX_ATTEMPTS)
    assert retry_failed_events(now=now + timedelta(days=2)) == 0
    assert stored(event).status == Status.FAILED


def test_event_left_processing_by_a_dead_worker_is_processed_again(client, fake_stripe):
    user = connected_freelancer(fake_stripe, enabled=False)
    event = account_event(account_of(user).account_id, enabled=True)
    post_event(client, event)
    started = timezone.now()
    WebhookEvent.objects.filter(event_id=event["id"]).update(
        status=Status.PROCESSING, processed_at=started
    )

    assert retry_failed_events(now=started + timedelta(minutes=5)) == 0
    assert process_event(event["id"]).status == Status.PROCESSING  # held by the other worker
    assert retry_failed_events(now=started + timedelta(minutes=12)) == 1

    assert stored(event).status == Status.SUCCEEDED


def test_event_stored_but_never_processed_is_picked_up(fake_stripe):
    user = connected_freelancer(fake_stripe, enabled=False)
    event = account_event(account_of(user).account_id, enabled=True)
    record_event(*signed(event))  # the request died before processing

    assert retry_failed_events(now=timezone.now() + timedelta(minutes=2)) == 1

    assert stored(event).status == Status.SUCCEEDED
    assert account_of(user).payouts_enabled
