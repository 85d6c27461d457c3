"""Forms of the dispute pages. They only parse what a person typed; the services decide
(who may act, in which state, the evidence file limits, the amount's range)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from disputes.models import BPS, Dispute
from disputes.services.common import MAX_TEXT_CHARS
from escrow.forms import parse_amount
from marketplace.forms_contracts import MultipleFileField
from marketplace.money import CURRENCIES


class OpenDisputeForm(forms.Form):
    """The amount is typed in major units (``250.00``), as on the milestone forms."""

    reason = forms.ChoiceField(label="What is the dispute about?", choices=Dispute.Reason.choices)
    description = forms.CharField(
        label="Describe what went wrong",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Both parties and the arbiter read this.",
        max_length=MAX_TEXT_CHARS,
    )
    amount = forms.CharField(label="Amount in dispute", max_length=40)

    def __init__(self, *args: Any, currency: str, held_display: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        field = self.fields["amount"]
        field.label = f"Amount in dispute ({currency.upper()})"
        field.widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})
        field.help_text = f"At most the {held_display} held in escrow for this milestone."

    def clean_amount(self) -> int:
        return parse_amount(self.cleaned_data["amount"], self.currency)


def amount_initial(amount: int, currency: str) -> str:
    """``250000`` in ``usd`` -> ``"2500.00"``: what the amount field starts with."""
    spec = CURRENCIES[currency]
    return f"{Decimal(int(amount)).scaleb(-spec.exponent):f}"


class RespondForm(forms.Form):
    text = forms.CharField(
        label="Your response", widget=forms.Textarea(attrs={"rows": 4}), max_length=MAX_TEXT_CHARS
    )


class EvidenceForm(forms.Form):
    text = forms.CharField(
        label="Statement",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=MAX_TEXT_CHARS,
    )
    # As on the submission form: the field leaves the class attributes at run time.
    files = MultipleFileField(  # type: ignore[assignment]
        label="Files",
        required=False,
        help_text="Each file's SHA-256 is stored and shown, so anyone can check it later.",
    )


class OfferForm(forms.Form):
    """A split in percent with up to two decimals, i.e. whole basis points."""

    freelancer_percent = forms.DecimalField(
        label="Freelancer's share (%)",
        min_value=0,
        max_value=100,
        max_digits=5,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": "100"}),
    )

    def clean_freelancer_percent(self) -> int:
        """In basis points: ``62.5`` -> ``6250``."""
        return int(self.cleaned_data["freelancer_percent"] * BPS / 100)


class EscalateForm(forms.Form):
    note = forms.CharField(
        label="Why an arbiter? (optional)",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=MAX_TEXT_CHARS,
    )


class AppealForm(forms.Form):
    reason = forms.CharField(
        label="Why should a different arbiter look again?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_TEXT_CHARS,
    )
