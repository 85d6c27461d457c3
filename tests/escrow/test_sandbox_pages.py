"""The sandbox checkout and onboarding pages, through the Django test client."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from escrow.models import Funding, PayoutAccount, SandboxObject
from escrow.rails.sandbox import SandboxProvider
from marketplace.models import User
from marketplace.services.contracts import workroom_url
from tests.escrow.private_routes import sandbox_funding, sandbox_payout_account
from tests.factories import verified_user

pytestmark = pytest.mark.django_db

CARD = {"number": "4242 4242 4242 4242", "expiry": "12/34", "cvc": "123", "name": "Pat Client"}


@pytest.fixture(autouse=True)
def _sandbox_active(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = ""


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def checkout_url(funding: Funding) -> str:
    return reverse("sandbox_checkout", args=[funding.payment_intent_id])


def intent_status(funding: Funding) -> str:
    assert funding.payment_intent_id
    return SandboxProvider().retrieve_payment_intent(funding.payment_intent_id).status


def charges() -> int:
    return SandboxObject.objects.filter(kind="charge").count()


@pytest.fixture
def funding() -> Funding:
    return sandbox_funding(verified_user())


# --- checkout ---------------------------------------------------------------------------------


def test_checkout_shows_amount_milestones_and_test_cards(funding):
    milestone = funding.items.get().milestone

    response = logged_in(funding.client).get(checkout_url(funding))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Pay $1,000.00 into escrow" in page
    assert milestone.title in page
    assert funding.contract.title in page
    for number in ("4242424242424242", "4000000000000002", "4000000000009995"):
        assert number in page
    assert "<script>" not in page  # CSP: no inline scripts


def test_checkout_needs_a_login(funding):
    response = Client().get(checkout_url(funding))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("who", ["stranger", "freelancer"])
def test_only_the_fundings_client_may_see_or_pay(funding, who):
    viewer = verified_user() if who == "stranger" else funding.contract.freelancer
    client = logged_in(viewer)

    assert client.get(checkout_url(funding)).status_code == 404
    assert client.post(checkout_url(funding), CARD).status_code == 404
    assert intent_status(funding) == "requires_payment_method"
    assert charges() == 0


def test_unknown_payment_is_404(funding):
    response = logged_in(funding.client).get(reverse("sandbox_checkout", args=["pi_sbx_nope"]))

    assert response.status_code == 404


def test_paying_with_the_test_card_returns_to_the_workroom(funding):
    response = logged_in(funding.client).post(checkout_url(funding), CARD)

    assert response.status_code == 302
    assert response["Location"] == workroom_url(funding.contract)
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Payment received — waiting for confirmation"
    ]
    assert intent_status(funding) == "succeeded"
    assert charges() == 1


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("4000000000000002", "Your card was declined."),
        ("4000000000009995", "Your card has insufficient funds."),
    ],
)
def test_declined_card_shows_why_and_may_try_again(funding, number, words):
    client = logged_in(funding.client)

    response = client.post(checkout_url(funding), {**CARD, "number": number})

    assert response.status_code == 200
    assert words in response.content.decode()
    assert intent_status(funding) == "requires_payment_method"
    assert charges() == 0
    assert client.post(checkout_url(funding), CARD).status_code == 302
    assert intent_status(funding) == "succeeded"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("number", "4111 1111 1111 1111", "Your card number is incorrect."),
        ("number", "4242-abc", "Enter the card number"),
        ("expiry", "01/20", "Your card&#x27;s expiration date is in the past."),
        ("expiry", "13/40", "Enter the expiry date as MM/YY"),
        ("cvc", "12", "security code is 3 or 4 digits"),
        ("name", "", "This field is required."),
    ],
)
def test_invalid_card_details_are_form_errors_and_charge_nothing(funding, field, value, words):
    response = logged_in(funding.client).post(checkout_url(funding), {**CARD, field: value})

    assert response.status_code == 200
    assert words in response.content.decode()
    assert intent_status(funding) == "requires_payment_method"
    assert charges() == 0


def test_paid_checkout_says_so_and_does_not_charge_again(funding):
    client = logged_in(funding.client)
    client.post(checkout_url(funding), CARD)

    page = client.get(checkout_url(funding)).content.decode()
    again = client.post(checkout_url(funding), CARD)

    assert "This payment has already been made." in page
    assert 'name="number"' not in page
    assert again.status_code == 200
    assert charges() == 1


def test_cancelled_payment_page_says_so(funding):
    assert funding.payment_intent_id
    SandboxProvider().cancel_payment_intent(funding.payment_intent_id, idempotency_key="c-1")

    page = logged_in(funding.client).get(checkout_url(funding)).content.decode()

    assert "This payment was cancelled." in page
    assert 'name="number"' not in page


def test_checkout_does_not_exist_when_stripe_is_the_provider(funding, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_real_looking"

    response = logged_in(funding.client).get(checkout_url(funding))

    assert response.status_code == 404


# --- onboarding -------------------------------------------------------------------------------


@pytest.fixture
def account() -> PayoutAccount:
    return sandbox_payout_account(verified_user(is_freelancer=True))


def onboarding_url(account: PayoutAccount, back: str | None = "/payouts/") -> str:
    url = reverse("sandbox_onboarding", args=[account.account_id])
    return url if back is None else f"{url}?return={back}"


ONBOARDING = {"legal_name": "Pat Freelancer", "bank_account": "000123456789"}


def test_onboarding_page_asks_for_name_and_test_bank_account(account):
    response = logged_in(account.user).get(onboarding_url(account))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Legal name" in page
    assert "Bank account (test)" in page
    assert "Payouts are not enabled yet." in page
    assert "Still needed: a bank account for payouts, agreeing to the payout terms." in page


def test_finishing_onboarding_enables_payouts_and_goes_back(account):
    response = logged_in(account.user).post(onboarding_url(account), ONBOARDING)

    assert response.status_code == 302
    assert response["Location"] == "/payouts/"
    assert SandboxProvider().retrieve_account(account.account_id).payouts_enabled


@pytest.mark.parametrize(
    "back", ["https://evil.test/steal", "//evil.test/", "/\\evil.test", "javascript:alert(1)", None]
)
def test_onboarding_only_returns_to_a_path_on_this_site(account, back):
    response = logged_in(account.user).post(onboarding_url(account, back), ONBOARDING)

    assert response["Location"] == "/"


def test_onboarding_form_errors_change_nothing(account):
    response = logged_in(account.user).post(
        onboarding_url(account), {"legal_name": "", "bank_account": "12ab"}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "This field is required." in page
    assert "Enter the test account number" in page
    assert not SandboxProvider().retrieve_account(account.account_id).payouts_enabled


def test_onboarding_already_finished_says_so(account):
    client = logged_in(account.user)
    client.post(onboarding_url(account), ONBOARDING)

    page = client.get(onboarding_url(account)).content.decode()

    assert "payouts are enabled" in page
    assert 'name="legal_name"' not in page


def test_someone_elses_onboarding_is_404(account):
    client = logged_in(verified_user())

    assert client.get(onboarding_url(account)).status_code == 404
    assert client.post(onboarding_url(account), ONBOARDING).status_code == 404
    assert not SandboxProvider().retrieve_account(account.account_id).payouts_enabled


def test_onboarding_needs_a_login(account):
    response = Client().get(onboarding_url(account))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_onboarding_does_not_exist_when_stripe_is_the_provider(account, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_real_looking"

    assert logged_in(account.user).get(onboarding_url(account)).status_code == 404
