"""Stripe-shaped events: signatures Stripe's own library accepts, and signed delivery."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from escrow.models import WebhookEvent
from escrow.rails import events
from escrow.rails.events import DeliveryFailed, deliver_sandbox_event, sign_payload

SECRET = "whsec_test_secret"


def verify(payload: bytes, header: str, secret: str = SECRET) -> stripe.Event:
    return stripe.Webhook.construct_event(payload, header, secret, tolerance=300)


def payment_event() -> dict:
    intent = events.payment_intent_object(
        payment_intent_id="pi_123", amount=5_000, currency="usd", metadata={"funding_id": "4"}
    )
    return events.build_event("payment_intent.succeeded", intent)


# --- signatures -------------------------------------------------------------------------------


def test_signed_payload_is_accepted_by_stripes_library():
    payload = events.encode_event(payment_event())

    event = verify(payload, sign_payload(payload, SECRET))

    assert event.type == "payment_intent.succeeded"
    assert event["data"]["object"]["id"] == "pi_123"


def test_signature_header_has_stripes_exact_format():
    header = sign_payload(b'{"id": "evt_1"}', SECRET, timestamp=1_700_000_000)

    stamp, signature = header.split(",")
    assert stamp == "t=1700000000"
    assert signature.startswith("v1=")
    assert len(signature.removeprefix("v1=")) == 64
    assert int(signature.removeprefix("v1="), 16) >= 0  # hex


def test_tampered_payload_fails_verification():
    payload = events.encode_event(payment_event())
    header = sign_payload(payload, SECRET)

    with pytest.raises(stripe.SignatureVerificationError):
        verify(payload.replace(b"5000", b"9000"), header)


def test_wrong_secret_fails_verification():
    payload = events.encode_event(payment_event())

    with pytest.raises(stripe.SignatureVerificationError):
        verify(payload, sign_payload(payload, "whsec_someone_else"))


def test_signature_older_than_five_minutes_fails_verification():
    payload = events.encode_event(payment_event())
    stale = sign_payload(payload, SECRET, timestamp=int(time.time()) - 301)

    with pytest.raises(stripe.SignatureVerificationError):
        verify(payload, stale)


def test_signature_just_under_five_minutes_old_is_accepted():
    payload = events.encode_event(payment_event())

    assert verify(payload, sign_payload(payload, SECRET, timestamp=int(time.time()) - 290))


# --- shapes -----------------------------------------------------------------------------------


def test_event_has_stripes_envelope():
    event = payment_event()

    assert event["id"].startswith("evt_")
    assert event["object"] == "event"
    assert event["livemode"] is False
    assert isinstance(event["created"], int)
    assert event["api_version"] == stripe.api_version
    assert event["data"]["object"]["amount_received"] == 5_000
    assert event["data"]["object"]["metadata"] == {"funding_id": "4"}


def test_dispute_created_event_names_the_charge_and_payment_intent():
    event = events.dispute_created_event(
        dispute_id="dp_1", charge_id="ch_1", payment_intent_id="pi_1", amount=500, currency="usd"
    )

    assert event["type"] == "charge.dispute.created"
    dispute = event["data"]["object"]
    assert (dispute["object"], dispute["charge"], dispute["payment_intent"]) == (
        "dispute",
        "ch_1",
        "pi_1",
    )
    assert dispute["reason"] == "fraudulent"


def test_transfer_reversed_event_carries_the_cumulative_reversed_amount():
    event = events.transfer_reversed_event(
        transfer_id="tr_1",
        amount=1_000,
        currency="usd",
        destination="acct_1",
        metadata={"payout_id": "3"},
        amount_reversed=1_000,
    )

    transfer = event["data"]["object"]
    assert event["type"] == "transfer.reversed"
    assert (transfer["amount_reversed"], transfer["reversed"]) == (1_000, True)
    assert transfer["metadata"] == {"payout_id": "3"}


def test_charge_object_totals_its_refunds():
    refund = events.refund_object(
        refund_id="re_1", amount=300, currency="usd", payment_intent_id="pi_1", charge_id="ch_1"
    )
    charge = events.charge_object(
        charge_id="ch_1", amount=1_000, currency="usd", payment_intent_id="pi_1", refunds=[refund]
    )

    assert charge["amount_refunded"] == 300
    assert charge["refunded"] is False
    assert charge["refunds"]["data"] == [refund]


# --- delivery ---------------------------------------------------------------------------------


def test_delivery_posts_the_event_signed_with_the_webhook_secret(webhook_receiver, settings):
    event = payment_event()

    status = deliver_sandbox_event.delay(event).get()

    [delivery] = webhook_receiver.deliveries
    assert status == 200
    assert delivery.path == "/webhooks/stripe/"
    verified = verify(delivery.body, delivery.signature, settings.STRIPE_WEBHOOK_SECRET)
    assert verified.id == event["id"]
    assert json.loads(delivery.body) == event


def test_delivery_is_retried_after_server_errors(webhook_receiver):
    webhook_receiver.statuses = [503, 500]

    status = deliver_sandbox_event.delay(payment_event()).get()

    assert status == 200
    assert len(webhook_receiver.deliveries) == 3
    assert len({d.body for d in webhook_receiver.deliveries}) == 1  # the same event each time


def test_a_refused_delivery_is_not_retried(webhook_receiver):
    webhook_receiver.statuses = [400]

    status = deliver_sandbox_event.delay(payment_event()).get()

    assert status == 400
    assert len(webhook_receiver.deliveries) == 1


def test_delivery_to_an_unreachable_site_gives_up_after_its_retries(
    webhook_receiver, settings, monkeypatch
):
    attempts: list[str] = []
    real_post = events.post_event

    def counted_post(event: dict) -> int:
        attempts.append(event["id"])
        return real_post(event)

    monkeypatch.setattr(events, "post_event", counted_post)
    webhook_receiver.stop()  # nothing listens on SITE_URL any more

    with pytest.raises(DeliveryFailed):
        deliver_sandbox_event.delay(payment_event()).get()

    assert deliver_sandbox_event.max_retries == 10
    assert len(attempts) == 11  # the first try and ten retries


@pytest.mark.django_db(transaction=True)
def test_delivery_reaches_the_real_webhook_endpoint_which_stores_the_event(
    live_server, settings, eager_tasks
):
    settings.SITE_URL = live_server.url
    event = events.build_event("customer.created", {"id": "cus_1", "object": "customer"})

    status = deliver_sandbox_event.delay(event).get()

    assert status == 200
    stored = WebhookEvent.objects.get(event_id=event["id"])
    assert stored.type == "customer.created"
    assert stored.payload == event
