"""StripeProvider through the real ``stripe`` SDK, over HTTP, against the local fake."""

from __future__ import annotations

import time
from typing import Any

import pytest

from escrow.rails import RailError, card_provider
from escrow.rails.stripe import StripeProvider
from tests.escrow.fake_stripe import FakeStripe


@pytest.fixture
def provider(fake_stripe: FakeStripe) -> StripeProvider:
    return StripeProvider()


def pay(provider: StripeProvider, fake: FakeStripe, amount: int = 5_000) -> str:
    intent = provider.create_payment_intent(
        amount=amount, currency="usd", metadata={"funding_id": "1"}, idempotency_key="funding-1"
    )
    fake.succeed_payment(intent.id)
    return intent.id


def onboarded_account(provider: StripeProvider, fake: FakeStripe) -> str:
    account = provider.create_connected_account(
        email="pat@example.test", country="", metadata={}, idempotency_key="account-1"
    )
    fake.complete_onboarding(account.id)
    return account.id


def test_stripe_is_the_provider_when_a_secret_key_is_set(fake_stripe):
    assert card_provider().name == "stripe"


# --- payment intents ----------------------------------------------------------------------------


def test_payment_intent_is_created_with_automatic_capture_and_metadata(provider, fake_stripe):
    intent = provider.create_payment_intent(
        amount=12_500,
        currency="usd",
        metadata={"funding_id": "7", "milestone_ids": "3,4"},
        idempotency_key="funding-7",
    )

    assert intent.status == "requires_payment_method"
    assert (intent.amount, intent.currency) == (12_500, "usd")
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert intent.checkout_url == ""  # Stripe's page takes the client secret instead
    [sent] = fake_stripe.posts("/v1/payment_intents")
    assert sent.idempotency_key == "funding-7"
    assert sent.params["automatic_payment_methods"] == {"enabled": "true"}
    assert sent.params["metadata"] == {"funding_id": "7", "milestone_ids": "3,4"}
    assert "capture_method" not in sent.params  # Stripe's default: automatic
    assert sent.headers["authorization"] == "Bearer sk_test_fake"


def test_same_idempotency_key_returns_the_same_payment_intent(provider, fake_stripe):
    first = provider.create_payment_intent(
        amount=5_000, currency="usd", metadata={}, idempotency_key="funding-1"
    )
    again = provider.create_payment_intent(
        amount=5_000, currency="usd", metadata={}, idempotency_key="funding-1"
    )

    assert again.id == first.id
    assert len(fake_stripe.of_kind("payment_intent")) == 1


def test_reusing_a_key_for_another_amount_is_a_permanent_idempotency_error(provider):
    provider.create_payment_intent(
        amount=5_000, currency="usd", metadata={}, idempotency_key="funding-1"
    )
    with pytest.raises(RailError) as caught:
        provider.create_payment_intent(
            amount=6_000, currency="usd", metadata={}, idempotency_key="funding-1"
        )

    assert caught.value.permanent
    assert caught.value.code == "idempotency_error"


def test_retrieve_shows_the_payment_after_the_customer_paid(provider, fake_stripe):
    payment_intent_id = pay(provider, fake_stripe)

    intent = provider.retrieve_payment_intent(payment_intent_id)

    assert intent.status == "succeeded"
    assert intent.amount == 5_000


def test_retrieving_an_unknown_payment_intent_is_permanent(provider):
    with pytest.raises(RailError) as caught:
        provider.retrieve_payment_intent("pi_missing")

    assert caught.value.permanent
    assert caught.value.code == "resource_missing"
    assert "pi_missing" in caught.value.message


def test_cancel_cancels_an_unpaid_payment_intent(provider, fake_stripe):
    intent = provider.create_payment_intent(
        amount=5_000, currency="usd", metadata={}, idempotency_key="funding-1"
    )

    canceled = provider.cancel_payment_intent(intent.id, idempotency_key=f"cancel-{intent.id}")

    assert canceled.status == "canceled"
    [sent] = fake_stripe.posts(f"/v1/payment_intents/{intent.id}/cancel")
    assert sent.idempotency_key == f"cancel-{intent.id}"


def test_cancelling_a_paid_payment_intent_is_refused_for_good(provider, fake_stripe):
    payment_intent_id = pay(provider, fake_stripe)

    with pytest.raises(RailError) as caught:
        provider.cancel_payment_intent(payment_intent_id, idempotency_key="cancel-1")

    assert caught.value.permanent
    assert caught.value.code == "payment_intent_unexpected_state"


# --- refunds --------------------------------------------------------------------------------


def test_refund_returns_part_of_a_payment(provider, fake_stripe):
    payment_intent_id = pay(provider, fake_stripe, amount=5_000)

    refund = provider.create_refund(
        payment_intent_id=payment_intent_id,
        amount=2_000,
        metadata={"refund_id": "9"},
        idempotency_key="refund-9",
    )

    assert (refund.status, refund.amount) == ("succeeded", 2_000)
    [sent] = fake_stripe.posts("/v1/refunds")
    assert sent.idempotency_key == "refund-9"
    assert sent.params == {
        "payment_intent": payment_intent_id,
        "amount": "2000",
        "metadata": {"refund_id": "9"},
    }


def test_refund_retried_with_its_key_refunds_once(provider, fake_stripe):
    payment_intent_id = pay(provider, fake_stripe)
    arguments: dict[str, Any] = {
        "payment_intent_id": payment_intent_id,
        "amount": 1_000,
        "metadata": {},
        "idempotency_key": "refund-1",
    }

    first = provider.create_refund(**arguments)
    again = provider.create_refund(**arguments)

    assert again.id == first.id
    assert len(fake_stripe.of_kind("refund")) == 1


def test_refunding_more_than_was_paid_is_permanent(provider, fake_stripe):
    payment_intent_id = pay(provider, fake_stripe, amount=5_000)

    with pytest.raises(RailError) as caught:
        provider.create_refund(
            payment_intent_id=payment_intent_id,
            amount=5_001,
            metadata={},
            idempotency_key="refund-1",
        )

    assert caught.value.permanent
    assert caught.value.code == "amount_too_large"


# --- Connect --------------------------------------------------------------------------------


def test_connected_account_is_an_express_account_asking_for_transfers(
    provider, fake_stripe, settings
):
    settings.STRIPE_CONNECT_COUNTRY = "GB"

    account = provider.create_connected_account(
        email="pat@example.test", country="", metadata={"user_id": "5"}, idempotency_key="acct-5"
    )

    assert account.id.startswith("acct_")
    assert not account.payouts_enabled
    assert not account.details_submitted
    assert account.requirements_due  # onboarding still to do
    [sent] = fake_stripe.posts("/v1/accounts")
    assert sent.idempotency_key == "acct-5"
    assert sent.params == {
        "type": "express",
        "country": "GB",
        "email": "pat@example.test",
        "capabilities": {"transfers": {"requested": "true"}},
        "metadata": {"user_id": "5"},
    }


def test_retrieved_account_shows_finished_onboarding(provider, fake_stripe):
    account_id = onboarded_account(provider, fake_stripe)

    account = provider.retrieve_account(account_id)

    assert account.payouts_enabled
    assert account.details_submitted
    assert account.requirements_due == []


def test_account_link_is_an_onboarding_link_with_both_return_urls(provider, fake_stripe):
    account = provider.create_connected_account(
        email="pat@example.test", country="US", metadata={}, idempotency_key="acct-1"
    )

    url = provider.create_account_link(
        account_id=account.id,
        refresh_url="https://smartpay.test/payouts/connect/",
        return_url="https://smartpay.test/payouts/",
    )

    assert url.startswith("https://connect.stripe.com/")
    [sent] = fake_stripe.posts("/v1/account_links")
    assert sent.params["type"] == "account_onboarding"
    assert sent.params["account"] == account.id
    assert sent.params["return_url"] == "https://smartpay.test/payouts/"
    assert sent.params["refresh_url"] == "https://smartpay.test/payouts/connect/"
    assert str(sent.idempotency_key).startswith("account-link-")


def test_transfer_pays_a_connected_account(provider, fake_stripe):
    account_id = onboarded_account(provider, fake_stripe)

    transfer = provider.create_transfer(
        amount=4_500,
        currency="usd",
        destination=account_id,
        metadata={"payout_id": "3"},
        idempotency_key="payout-3",
    )

    assert transfer.id.startswith("tr_")
    assert (transfer.amount, transfer.currency, transfer.destination) == (4_500, "usd", account_id)
    [sent] = fake_stripe.posts("/v1/transfers")
    assert sent.idempotency_key == "payout-3"
    assert sent.params["metadata"] == {"payout_id": "3"}


def test_transfer_to_an_account_without_onboarding_fails_permanently(provider, fake_stripe):
    account = provider.create_connected_account(
        email="pat@example.test", country="US", metadata={}, idempotency_key="acct-1"
    )

    with pytest.raises(RailError) as caught:
        provider.create_transfer(
            amount=4_500,
            currency="usd",
            destination=account.id,
            metadata={},
            idempotency_key="payout-1",
        )

    assert caught.value.permanent
    assert caught.value.code == "insufficient_capabilities_for_transfer"
    assert fake_stripe.of_kind("transfer") == []


# --- balance transactions -----------------------------------------------------------------


def test_balance_transactions_are_listed_across_pages_with_signed_amounts(provider, fake_stripe):
    payment_intent_id = pay(provider, fake_stripe, amount=5_000)
    provider.create_refund(
        payment_intent_id=payment_intent_id, amount=1_000, metadata={}, idempotency_key="r-1"
    )
    for _ in range(230):
        fake_stripe.add_balance(1)

    entries = list(provider.list_balance_transactions())

    assert len(entries) == 232
    assert len({entry.id for entry in entries}) == 232
    pages = [r for r in fake_stripe.requests if r.path == "/v1/balance_transactions"]
    assert len(pages) == 3
    assert pages[1].params["starting_after"] == entries[99].id
    by_type = {entry.type: entry for entry in entries}
    assert by_type["charge"].amount == 5_000
    assert by_type["refund"].amount == -1_000
    assert by_type["refund"].source.startswith("re_")
    assert sum(entry.amount for entry in entries) == 5_000 - 1_000 + 230


def test_balance_transactions_before_created_gte_are_left_out(provider, fake_stripe):
    old = fake_stripe.add_balance(100)
    old["created"] = int(time.time()) - 3_600
    fake_stripe.add_balance(200)

    entries = list(provider.list_balance_transactions(created_gte=int(time.time()) - 60))

    assert [entry.amount for entry in entries] == [200]
    [request] = [r for r in fake_stripe.requests if r.path == "/v1/balance_transactions"]
    assert "gte" in request.params["created"]


# --- errors: permanent or worth retrying ----------------------------------------------------

ERRORS = [
    (402, "card_error", True),
    (400, "invalid_request_error", True),
    (401, "invalid_request_error", True),
    (403, "invalid_request_error", True),
    (404, "invalid_request_error", True),
    (429, "rate_limit_error", False),
    (500, "api_error", False),
    (502, "api_error", False),
    (503, "api_error", False),
]


@pytest.mark.parametrize(("status", "error_type", "permanent"), ERRORS)
def test_stripe_errors_are_permanent_or_transient_by_kind(
    provider, fake_stripe, status, error_type, permanent
):
    fake_stripe.fail_next("/v1/refunds", status, error_type, message="Something went wrong.")
    payment_intent_id = pay(provider, fake_stripe)

    with pytest.raises(RailError) as caught:
        provider.create_refund(
            payment_intent_id=payment_intent_id, amount=100, metadata={}, idempotency_key="r-1"
        )

    assert caught.value.permanent is permanent
    assert caught.value.message == "Something went wrong."


def test_a_card_error_keeps_stripes_code(provider, fake_stripe):
    fake_stripe.fail_next("/v1/payment_intents", 402, "card_error", code="card_declined")

    with pytest.raises(RailError) as caught:
        provider.create_payment_intent(
            amount=5_000, currency="usd", metadata={}, idempotency_key="funding-1"
        )

    assert caught.value.permanent
    assert caught.value.code == "card_declined"


def test_a_wrong_api_key_is_permanent(fake_stripe):
    with pytest.raises(RailError) as caught:
        StripeProvider(api_key="sk_test_wrong").retrieve_account("acct_1")

    assert caught.value.permanent
    assert "Invalid API Key" in caught.value.message


def test_a_dropped_connection_is_transient_and_the_retry_creates_one_object(provider, fake_stripe):
    fake_stripe.drop_next("/v1/transfers")
    account_id = onboarded_account(provider, fake_stripe)
    arguments: dict[str, Any] = {
        "amount": 700,
        "currency": "usd",
        "destination": account_id,
        "metadata": {},
        "idempotency_key": "payout-1",
    }

    with pytest.raises(RailError) as caught:
        provider.create_transfer(**arguments)
    transfer = provider.create_transfer(**arguments)

    assert not caught.value.permanent
    assert caught.value.code == "api_connection_error"
    assert [t["id"] for t in fake_stripe.of_kind("transfer")] == [transfer.id]


def test_a_timeout_is_transient_and_the_retry_with_its_key_pays_once(
    provider, fake_stripe, settings
):
    account_id = onboarded_account(provider, fake_stripe)
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    fake_stripe.delay_next("/v1/transfers", 1.0)
    arguments: dict[str, Any] = {
        "amount": 700,
        "currency": "usd",
        "destination": account_id,
        "metadata": {},
        "idempotency_key": "payout-1",
    }

    with pytest.raises(RailError) as caught:
        StripeProvider().create_transfer(**arguments)
    time.sleep(0.8)  # Stripe finished the first request after the client gave up
    transfer = StripeProvider().create_transfer(**arguments)

    assert not caught.value.permanent
    assert [t["id"] for t in fake_stripe.of_kind("transfer")] == [transfer.id]


def test_an_error_while_paging_balance_transactions_is_transient(provider, fake_stripe):
    for _ in range(150):
        fake_stripe.add_balance(1)
    entries = provider.list_balance_transactions()
    first_page = [next(entries) for _ in range(100)]
    fake_stripe.fail_next("/v1/balance_transactions", 500)

    with pytest.raises(RailError) as caught:
        list(entries)

    assert len(first_page) == 100
    assert not caught.value.permanent


def test_every_post_carries_the_callers_idempotency_key(provider, fake_stripe):
    payment_intent_id = pay(provider, fake_stripe)
    provider.create_refund(
        payment_intent_id=payment_intent_id, amount=10, metadata={}, idempotency_key="refund-1"
    )
    other = provider.create_payment_intent(
        amount=500, currency="usd", metadata={}, idempotency_key="funding-2"
    )
    provider.cancel_payment_intent(other.id, idempotency_key="cancel-2")
    account_id = onboarded_account(provider, fake_stripe)
    provider.create_account_link(
        account_id=account_id, refresh_url="https://x.test/r", return_url="https://x.test/d"
    )
    provider.create_transfer(
        amount=10, currency="usd", destination=account_id, metadata={}, idempotency_key="payout-1"
    )

    sent = [(r.path, r.idempotency_key) for r in fake_stripe.posts()]

    link_key = dict(sent)["/v1/account_links"]
    assert str(link_key).startswith("account-link-")
    assert sent == [
        ("/v1/payment_intents", "funding-1"),
        ("/v1/refunds", "refund-1"),
        ("/v1/payment_intents", "funding-2"),
        (f"/v1/payment_intents/{other.id}/cancel", "cancel-2"),
        ("/v1/accounts", "account-1"),
        ("/v1/account_links", link_key),
        ("/v1/transfers", "payout-1"),
    ]
