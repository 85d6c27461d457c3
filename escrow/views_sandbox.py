"""The sandbox provider's pages: a test checkout and a simulated Connect onboarding.

They stand in for Stripe's Payment Element and hosted onboarding while no
``STRIPE_SECRET_KEY`` is set, and don't exist otherwise. Thin: parse the form,
call one sandbox function, render. Objects that are not yours are 404.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from escrow.models import Funding, PayoutAccount
from escrow.rails import RailError, card_provider
from escrow.rails.sandbox import (
    DECLINED_CARD,
    INSUFFICIENT_FUNDS_CARD,
    SUCCEEDING_CARD,
    SandboxProvider,
    complete_onboarding,
    confirm_payment,
)
from marketplace.money import format_amount
from marketplace.permissions import acting_user
from marketplace.services.contracts import workroom_url

TEST_CARD_LIST = [
    (SUCCEEDING_CARD, "Payment succeeds"),
    (DECLINED_CARD, "Card declined"),
    (INSUFFICIENT_FUNDS_CARD, "Declined: insufficient funds"),
]

# Stripe's requirement names, as the freelancer would say them.
REQUIREMENT_WORDS = {
    "external_account": "a bank account for payouts",
    "tos_acceptance.date": "agreeing to the payout terms",
    "tos_acceptance.ip": "agreeing to the payout terms",
    "individual.first_name": "your name",
    "individual.last_name": "your name",
}


def _sandbox_only() -> None:
    if card_provider().name != "sandbox":
        raise Http404("The sandbox is off: payments go through Stripe.")


class CardForm(forms.Form):
    number = forms.CharField(
        label="Card number",
        max_length=23,
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    expiry = forms.CharField(
        label="Expiry (MM/YY)",
        max_length=7,
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "placeholder": "12/34"}),
    )
    cvc = forms.CharField(
        label="Security code (CVC)",
        max_length=4,
        widget=forms.TextInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )
    name = forms.CharField(
        label="Name on the card",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "cc-name"}),
    )

    def clean_number(self) -> str:
        digits = "".join(ch for ch in self.cleaned_data["number"] if ch not in " -")
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            raise forms.ValidationError("Enter the card number: 12 to 19 digits.")
        return digits

    def clean_expiry(self) -> str:
        month, _, year = self.cleaned_data["expiry"].replace(" ", "").partition("/")
        if not (month.isdigit() and year.isdigit() and 1 <= int(month) <= 12 and len(year) == 2):
            raise forms.ValidationError("Enter the expiry date as MM/YY, for example 12/34.")
        today = timezone.localdate()
        if (2000 + int(year), int(month)) < (today.year, today.month):
            raise forms.ValidationError("Your card's expiration date is in the past.")
        return f"{int(month):02d}/{year}"

    def clean_cvc(self) -> str:
        cvc = self.cleaned_data["cvc"].strip()
        if not cvc.isdigit() or len(cvc) not in (3, 4):
            raise forms.ValidationError("Your card's security code is 3 or 4 digits.")
        return cvc


class OnboardingForm(forms.Form):
    legal_name = forms.CharField(label="Legal name", max_length=100)
    bank_account = forms.CharField(
        label="Bank account (test)",
        max_length=34,
        help_text="Test mode: any 6 to 17 digits, e.g. 000123456789. No money moves.",
    )

    def clean_bank_account(self) -> str:
        digits = self.cleaned_data["bank_account"].replace(" ", "")
        if not digits.isdigit() or not 6 <= len(digits) <= 17:
            raise forms.ValidationError("Enter the test account number: 6 to 17 digits.")
        return digits


def _checkout_context(funding: Funding) -> dict[str, Any]:
    items = [
        {"title": item.milestone.title, "amount": format_amount(item.amount, funding.currency)}
        for item in funding.items.select_related("milestone").order_by("milestone__position")
    ]
    return {
        "funding": funding,
        "contract": funding.contract,
        "amount_display": format_amount(funding.amount, funding.currency),
        "items": items,
        "test_cards": TEST_CARD_LIST,
        "workroom_url": workroom_url(funding.contract),
    }


@login_required
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, payment_intent_id: str) -> HttpResponse:
    """Pay a funding's PaymentIntent with a test card; only its client sees the page."""
    _sandbox_only()
    funding = get_object_or_404(
        Funding.objects.select_related("contract"),
        payment_intent_id=payment_intent_id,
        client=acting_user(request),
    )
    try:
        intent = SandboxProvider().retrieve_payment_intent(payment_intent_id)
    except RailError:
        raise Http404("No such payment.") from None
    form = CardForm(request.POST or None)
    if request.method == "POST" and intent.status != "succeeded" and form.is_valid():
        try:
            confirm_payment(payment_intent_id, form.cleaned_data["number"])
        except RailError as error:
            field = "number" if error.code == "incorrect_number" else None
            form.add_error(field, error.message)
        else:
            messages.success(request, "Payment received — waiting for confirmation")
            return redirect(workroom_url(funding.contract))
        intent = SandboxProvider().retrieve_payment_intent(payment_intent_id)
    context = {**_checkout_context(funding), "form": form, "intent": intent}
    return render(request, "escrow/sandbox/checkout.html", context)


def safe_return_path(value: str | None) -> str:
    """A path on this site to go back to; anything else (another host, ``//x``) is ``/``."""
    if (
        value
        and value.startswith("/")
        and not value.startswith(("//", "/\\"))
        and url_has_allowed_host_and_scheme(value, allowed_hosts=set())
    ):
        return value
    return "/"


@login_required
@require_http_methods(["GET", "POST"])
def onboarding(request: HttpRequest, account_id: str) -> HttpResponse:
    """Simulated Stripe Connect onboarding for the payout account's owner."""
    _sandbox_only()
    account = get_object_or_404(PayoutAccount, account_id=account_id, user=acting_user(request))
    return_path = safe_return_path(request.GET.get("return"))
    try:
        info = SandboxProvider().retrieve_account(account_id)
    except RailError:
        raise Http404("No such account.") from None
    form = OnboardingForm(request.POST or None)
    if request.method == "POST" and not info.payouts_enabled and form.is_valid():
        complete_onboarding(account_id)
        messages.success(request, "Payout account set up — test mode, no real bank involved.")
        return redirect(return_path)
    still_needed = dict.fromkeys(
        REQUIREMENT_WORDS.get(item, item.replace("_", " ").replace(".", ": "))
        for item in info.requirements_due
    )
    context = {
        "account": account,
        "info": info,
        "still_needed": list(still_needed),
        "form": form,
        "return_path": return_path,
    }
    return render(request, "escrow/sandbox/onboarding.html", context)
