"""Forms of the money pages and the workroom money panel. They only parse what a
person typed; the services decide."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms

from escrow.models import Funding, Refund
from escrow.services.refunds import MAX_REASON_CHARS
from escrow.statements import KIND_WORDS
from marketplace.money import CURRENCIES, Rail, to_minor_units

CARD_CURRENCIES = [code for code, spec in CURRENCIES.items() if spec.rail == Rail.CARD]
# Page forms carry their own idempotency key: a double click or a resent form
# returns the first funding or payout instead of paying twice.
REQUEST_KEY_MAX = 64


def new_request_key() -> str:
    return uuid.uuid4().hex


def parse_amount(raw: str, currency: str) -> int:
    """``"1,250.50"`` in ``usd`` -> ``125050``; a form error for anything else."""
    try:
        major = Decimal(raw.replace(",", "").strip())
        if not major.is_finite():
            raise InvalidOperation
        amount = to_minor_units(major, currency)
    except (InvalidOperation, ValueError) as error:
        message = str(error) if isinstance(error, ValueError) else "Enter a number."
        raise forms.ValidationError(message) from None
    if amount <= 0:
        raise forms.ValidationError("The amount must be more than zero.")
    return amount


class RequestKeyForm(forms.Form):
    request_key = forms.CharField(
        widget=forms.HiddenInput, max_length=REQUEST_KEY_MAX, min_length=8
    )

    def clean_request_key(self) -> str:
        key = str(self.cleaned_data["request_key"])
        if not key.isascii() or not key.isprintable():
            raise forms.ValidationError("Reload the page and try again.")
        return key


class FundForm(RequestKeyForm):
    milestones = forms.TypedMultipleChoiceField(
        label="Milestones to fund",
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one milestone to fund."},
    )
    source = forms.ChoiceField(
        label="Pay with",
        choices=Funding.Source.choices,
        initial=Funding.Source.CARD,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["milestones"].choices = choices  # type: ignore[attr-defined]


class ApproveForm(forms.Form):
    amount = forms.CharField(
        label="Amount to release",
        required=False,
        max_length=40,
        help_text="Leave empty to release everything; the rest goes back to your balance.",
    )

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].label = f"Amount to release ({currency.upper()})"
        self.fields["amount"].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})

    def clean_amount(self) -> int | None:
        raw = self.cleaned_data["amount"].strip()
        return parse_amount(raw, self.currency) if raw else None


class RefundRequestForm(forms.Form):
    reason = forms.CharField(
        label="Why do you want the money back?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_REASON_CHARS,
    )
    destination = forms.ChoiceField(
        label="Send the refund",
        choices=Refund.Destination.choices,
        initial=Refund.Destination.CARD,
        widget=forms.RadioSelect,
    )


class PayoutForm(RequestKeyForm):
    currency = forms.ChoiceField(label="Currency")
    amount = forms.CharField(
        label="Amount",
        required=False,
        max_length=40,
        help_text="Leave empty to pay out your whole available balance.",
    )

    def __init__(self, *args: Any, currencies: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        codes = [code for code in currencies or CARD_CURRENCIES if code in CARD_CURRENCIES]
        self.fields["currency"].choices = [  # type: ignore[attr-defined]
            (code, f"{code.upper()} — {CURRENCIES[code].name}") for code in codes or CARD_CURRENCIES
        ]
        self.fields["amount"].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        raw = (cleaned.get("amount") or "").strip()
        cleaned["amount"] = None
        if raw and cleaned.get("currency"):
            try:
                cleaned["amount"] = parse_amount(raw, cleaned["currency"])
            except forms.ValidationError as error:
                self.add_error("amount", error)
        return cleaned


class AutoPayoutForm(forms.Form):
    enabled = forms.BooleanField(
        label="Pay out my whole available balance every Monday", required=False
    )


class StatementFilterForm(forms.Form):
    currency = forms.ChoiceField(
        label="Currency",
        required=False,
        choices=[("", "All currencies"), *((code, code.upper()) for code in CURRENCIES)],
    )
    kind = forms.ChoiceField(
        label="Account",
        required=False,
        choices=[("", "Available and pending"), *KIND_WORDS.items()],
    )
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def filters(self) -> dict[str, Any]:
        """The valid filters only: a bad field is ignored, not an empty statement."""
        if not self.is_bound:
            return {}
        self.is_valid()  # fields that failed are left out of cleaned_data
        return {name: value for name, value in self.cleaned_data.items() if value}
