"""The sandbox provider: Stripe's behaviour and events, kept in our database."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from django.db import connection

from escrow.models import SandboxObject
from escrow.rails import RailError, card_provider
from escrow.rails.sandbox import (
    DECLINED_CARD,
    INSUFFICIENT_FUNDS_CARD,
    SUCCEEDING_CARD,
    SandboxProvider,
    complete_onboarding,
    confirm_payment,
)

pytestmark = pytest.mark.django_db

sandbox = SandboxProvider()


@pytest.fixture(autouse=True)
def _sandbox_active(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = ""


@pytest.fixture
def delivered(webhook_receiver, settings, django_capture_on_commit_callbacks):
    """Run ``action`` and return the events it delivered, each signature verified."""

    def run(action: Callable[[], Any]) -> list[dict]:
        before = len(webhook_receiver.deliveries)
        # A decline raises, and still sends its event.
        with django_capture_on_commit_callbacks(execute=True), contextlib.suppress(RailError):
            action()
        found = []
        for delivery in webhook_receiver.deliveries[before:]:
            stripe.Webhook.construct_event(
                delivery.body, delivery.signature, settings.STRIPE_WEBHOOK_SECRET
            )
            found.append(json.loads(delivery.body))
        return found

    return run


def new_payment(amount: int = 5_000, key: str = "funding-1") -> str:
    intent = sandbox.create_payment_intent(
        amount=amount, currency="usd", metadata={"funding_id": "1"}, idempotency_key=key
    )
    return intent.id


def paid(amount: int = 5_000, key: str = "funding-1") -> str:
    payment_intent_id = new_payment(amount, key)
    confirm_payment(payment_intent_id, SUCCEEDING_CARD)
    return payment_intent_id


def onboarded_account(key: str = "account-1") -> str:
    account = sandbox.create_connected_account(
        email="pat@example.test", country="US", metadata={}, idempotency_key=key
    )
    complete_onboarding(account.id)
    return account.id


def balance() -> list[tuple[str, int]]:
    return [(entry.type, entry.amount) for entry in sandbox.list_balance_transactions()]


def test_sandbox_is_the_provider_without_a_secret_key():
    assert card_provider().name == "sandbox"


# --- payment intents ----------------------------------------------------------------------------


def test_payment_intent_waits_for_a_card_on_the_sandbox_checkout_page(settings):
    intent = sandbox.create_payment_intent(
        amount=5_000, currency="usd", metadata={"funding_id": "1"}, idempotency_key="funding-1"
    )

    assert intent.id.startswith("pi_sbx_")
    assert intent.status == "requires_payment_method"
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert intent.checkout_url == f"{settings.SITE_URL}/sandbox/checkout/{intent.id}/"
    stored = SandboxObject.objects.get(object_id=intent.id)
    assert stored.kind == "payment_intent"
    assert stored.data["metadata"] == {"funding_id": "1"}
    assert stored.data["automatic_payment_methods"] == {"enabled": True}


def test_same_key_returns_the_same_payment_intent():
    assert new_payment(key="funding-1") == new_payment(key="funding-1")
    assert SandboxObject.objects.filter(kind="payment_intent").count() == 1


def test_same_key_for_another_amount_is_an_idempotency_error():
    new_payment(amount=5_000, key="funding-1")

    with pytest.raises(RailError) as caught:
        new_payment(amount=6_000, key="funding-1")

    assert caught.value.permanent
    assert caught.value.code == "idempotency_error"


def test_test_card_pays_and_sends_payment_intent_succeeded(delivered):
    payment_intent_id = new_payment(5_000)

    [event] = delivered(lambda: confirm_payment(payment_intent_id, "4242 4242 4242 4242"))

    intent = event["data"]["object"]
    assert event["type"] == "payment_intent.succeeded"
    assert (intent["id"], intent["status"]) == (payment_intent_id, "succeeded")
    assert (intent["amount"], intent["amount_received"], intent["currency"]) == (
        5_000,
        5_000,
        "usd",
    )
    assert intent["metadata"] == {"funding_id": "1"}
    assert intent["latest_charge"].startswith("ch_sbx_")
    assert sandbox.retrieve_payment_intent(payment_intent_id).status == "succeeded"
    assert balance() == [("charge", 5_000)]


@pytest.mark.parametrize(
    ("card", "message"),
    [
        (DECLINED_CARD, "Your card was declined."),
        (INSUFFICIENT_FUNDS_CARD, "Your card has insufficient funds."),
    ],
)
def test_declined_card_sends_payment_failed_and_may_try_again(delivered, card, message):
    payment_intent_id = new_payment()

    with pytest.raises(RailError) as caught:
        confirm_payment(payment_intent_id, card)
    [event] = delivered(lambda: confirm_payment(payment_intent_id, card))

    assert caught.value.message == message
    assert caught.value.code == "card_declined"
    assert event["type"] == "payment_intent.payment_failed"
    assert event["data"]["object"]["last_payment_error"]["message"] == message
    assert sandbox.retrieve_payment_intent(payment_intent_id).status == "requires_payment_method"
    assert balance() == []
    confirm_payment(payment_intent_id, SUCCEEDING_CARD)
    assert sandbox.retrieve_payment_intent(payment_intent_id).status == "succeeded"


def test_unknown_card_number_changes_nothing_and_sends_nothing(delivered):
    payment_intent_id = new_payment()

    with pytest.raises(RailError) as caught:
        confirm_payment(payment_intent_id, "4111111111111111")

    assert caught.value.code == "incorrect_number"
    assert delivered(lambda: confirm_payment(payment_intent_id, "1234")) == []
    assert sandbox.retrieve_payment_intent(payment_intent_id).status == "requires_payment_method"


def test_paying_twice_charges_once():
    payment_intent_id = paid()

    with pytest.raises(RailError) as caught:
        confirm_payment(payment_intent_id, SUCCEEDING_CARD)

    assert "already" in caught.value.message
    assert balance() == [("charge", 5_000)]


def test_cancelled_payment_can_not_be_paid():
    payment_intent_id = new_payment()

    canceled = sandbox.cancel_payment_intent(payment_intent_id, idempotency_key="cancel-1")
    again = sandbox.cancel_payment_intent(payment_intent_id, idempotency_key="cancel-1")

    assert (canceled.status, again.status) == ("canceled", "canceled")
    with pytest.raises(RailError):
        confirm_payment(payment_intent_id, SUCCEEDING_CARD)
    assert balance() == []


def test_paid_payment_can_not_be_cancelled():
    payment_intent_id = paid()

    with pytest.raises(RailError) as caught:
        sandbox.cancel_payment_intent(payment_intent_id, idempotency_key="cancel-1")

    assert caught.value.permanent
    assert caught.value.code == "payment_intent_unexpected_state"


def test_unknown_payment_intent_is_a_permanent_error():
    with pytest.raises(RailError) as caught:
        sandbox.retrieve_payment_intent("pi_sbx_missing")

    assert caught.value.permanent
    assert caught.value.code == "resource_missing"


# --- refunds --------------------------------------------------------------------------------


def test_refund_succeeds_at_once_and_sends_charge_refunded(delivered):
    payment_intent_id = paid(5_000)
    refunds = []

    def refund() -> None:
        refunds.append(
            sandbox.create_refund(
                payment_intent_id=payment_intent_id,
                amount=2_000,
                metadata={"refund_id": "7"},
                idempotency_key="refund-7",
            )
        )

    [event] = delivered(refund)

    [info] = refunds
    assert (info.status, info.amount) == ("succeeded", 2_000)
    charge = event["data"]["object"]
    assert event["type"] == "charge.refunded"
    assert (charge["object"], charge["payment_intent"]) == ("charge", payment_intent_id)
    assert charge["amount_refunded"] == 2_000
    [refund_object] = charge["refunds"]["data"]
    assert (refund_object["id"], refund_object["status"]) == (info.id, "succeeded")
    assert (refund_object["amount"], refund_object["metadata"]) == (2_000, {"refund_id": "7"})
    assert sorted(balance()) == [("charge", 5_000), ("refund", -2_000)]


def test_refund_retried_with_its_key_refunds_once():
    payment_intent_id = paid(5_000)
    arguments: dict[str, Any] = {
        "payment_intent_id": payment_intent_id,
        "amount": 1_000,
        "metadata": {},
        "idempotency_key": "refund-1",
    }

    first = sandbox.create_refund(**arguments)
    again = sandbox.create_refund(**arguments)

    assert again.id == first.id
    assert sorted(balance()) == [("charge", 5_000), ("refund", -1_000)]


def test_refunds_can_not_exceed_the_payment():
    payment_intent_id = paid(5_000)
    sandbox.create_refund(
        payment_intent_id=payment_intent_id, amount=3_000, metadata={}, idempotency_key="r-1"
    )

    with pytest.raises(RailError) as caught:
        sandbox.create_refund(
            payment_intent_id=payment_intent_id, amount=2_001, metadata={}, idempotency_key="r-2"
        )

    assert caught.value.permanent
    assert caught.value.code == "amount_too_large"
    assert sorted(balance()) == [("charge", 5_000), ("refund", -3_000)]


def test_unpaid_payment_can_not_be_refunded():
    payment_intent_id = new_payment()

    with pytest.raises(RailError) as caught:
        sandbox.create_refund(
            payment_intent_id=payment_intent_id, amount=100, metadata={}, idempotency_key="r-1"
        )

    assert caught.value.permanent
    assert not SandboxObject.objects.filter(kind="refund").exists()


# --- Connect --------------------------------------------------------------------------------


def test_onboarding_link_points_at_the_sandbox_page_with_a_site_path(settings):
    account = sandbox.create_connected_account(
        email="pat@example.test", country="", metadata={}, idempotency_key="account-1"
    )

    url = sandbox.create_account_link(
        account_id=account.id,
        refresh_url=f"{settings.SITE_URL}/payouts/connect/",
        return_url=f"{settings.SITE_URL}/payouts/?connected=1",
    )

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == settings.SITE_URL
    assert parts.path == f"/sandbox/onboarding/{account.id}/"
    assert parse_qs(parts.query) == {"return": ["/payouts/?connected=1"]}
    assert not account.payouts_enabled
    assert account.requirements_due


def test_completing_onboarding_enables_payouts_and_sends_account_updated(delivered):
    account = sandbox.create_connected_account(
        email="pat@example.test", country="US", metadata={}, idempotency_key="account-1"
    )

    [event] = delivered(lambda: complete_onboarding(account.id))

    sent = event["data"]["object"]
    assert event["type"] == "account.updated"
    assert (sent["id"], sent["payouts_enabled"], sent["details_submitted"]) == (
        account.id,
        True,
        True,
    )
    assert sent["requirements"]["currently_due"] == []
    assert sandbox.retrieve_account(account.id).payouts_enabled
    assert delivered(lambda: complete_onboarding(account.id)) == []  # nothing changed


def test_transfer_to_an_account_still_onboarding_fails_permanently():
    account = sandbox.create_connected_account(
        email="pat@example.test", country="US", metadata={}, idempotency_key="account-1"
    )

    with pytest.raises(RailError) as caught:
        sandbox.create_transfer(
            amount=100, currency="usd", destination=account.id, metadata={}, idempotency_key="p-1"
        )

    assert caught.value.permanent
    assert not SandboxObject.objects.filter(kind="transfer").exists()


def test_transfer_pays_once_per_key_and_shows_in_the_balance():
    account_id = onboarded_account()
    arguments: dict[str, Any] = {
        "amount": 4_500,
        "currency": "usd",
        "destination": account_id,
        "metadata": {"payout_id": "3"},
        "idempotency_key": "payout-3",
    }

    first = sandbox.create_transfer(**arguments)
    again = sandbox.create_transfer(**arguments)

    assert first.id.startswith("tr_sbx_")
    assert again == first
    assert balance() == [("transfer", -4_500)]
    [entry] = sandbox.list_balance_transactions()
    assert entry.source == first.id


def test_balance_transactions_since_a_time_leave_older_ones_out():
    paid(1_000, key="funding-1")
    old = SandboxObject.objects.get(kind="balance_transaction")
    old.data = {**old.data, "created": old.data["created"] - 3_600}
    old.save()
    paid(2_000, key="funding-2")

    recent = list(sandbox.list_balance_transactions(created_gte=old.data["created"] + 60))

    assert [entry.amount for entry in recent] == [2_000]


# --- races (PostgreSQL) ---------------------------------------------------------------------


def race(action: Callable[[], str], threads: int = 8) -> list[str]:
    """Run ``action`` in ``threads`` threads released at once; return what each returned."""
    start = threading.Barrier(threads)
    results: list[str] = []
    errors: list[Exception] = []

    def run() -> None:
        try:
            start.wait()
            results.append(action())
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("webhook_receiver")  # events go to a local receiver, not the broker
def test_concurrent_requests_with_one_key_create_one_payment_intent():
    ids = race(lambda: new_payment(key="funding-race"))

    assert len(set(ids)) == 1
    assert SandboxObject.objects.filter(kind="payment_intent").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("webhook_receiver")
def test_concurrent_transfers_with_one_key_pay_once():
    account_id = onboarded_account()

    ids = race(
        lambda: (
            sandbox.create_transfer(
                amount=900,
                currency="usd",
                destination=account_id,
                metadata={},
                idempotency_key="p-9",
            ).id
        )
    )

    assert len(set(ids)) == 1
    assert balance() == [("transfer", -900)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("webhook_receiver")
def test_concurrent_refunds_with_one_key_refund_once():
    payment_intent_id = paid(5_000)

    ids = race(
        lambda: (
            sandbox.create_refund(
                payment_intent_id=payment_intent_id, amount=700, metadata={}, idempotency_key="r-9"
            ).id
        )
    )

    assert len(set(ids)) == 1
    assert sorted(balance()) == [("charge", 5_000), ("refund", -700)]
