"""Forms of the offer page and the contract workroom. Rules live in the services;
these only parse what a person typed."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms

from marketplace.money import CURRENCIES, to_minor_units
from marketplace.services.milestones import MAX_FILES, MAX_MESSAGE_CHARS
from smartpay.uploads import ALLOWED_FILES

ACCEPT_ATTR = ",".join(f".{ext}" for ext in sorted(ALLOWED_FILES))


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name; the service checks count, size and type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"multiple": True, "accept": ACCEPT_ATTR})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class SubmitWorkForm(forms.Form):
    message = forms.CharField(
        label="Message to the client",
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=MAX_MESSAGE_CHARS,
    )
    # Declared fields leave the class attributes (the form metaclass pops them), so
    # this does not shadow ``Form.files`` at run time; the API calls the field "files" too.
    files = MultipleFileField(  # type: ignore[assignment]
        label="Files",
        required=False,
        help_text=f"Up to {MAX_FILES} files, 25 MB each: {', '.join(sorted(ALLOWED_FILES))}.",
    )


class RevisionForm(forms.Form):
    reason = forms.CharField(
        label="What needs to change?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_MESSAGE_CHARS,
    )


class MilestoneForm(forms.Form):
    """Amounts are typed in major units (``2500.00``) and stored in minor units."""

    title = forms.CharField(max_length=200)
    amount = forms.CharField(label="Amount", max_length=40)
    due_date = forms.DateField(
        label="Due date", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        spec = CURRENCIES[currency]
        self.fields["amount"].label = f"Amount ({currency.upper()})"
        self.fields["amount"].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})
        self.fields["amount"].help_text = f"Up to {spec.exponent} decimal places."

    def clean_amount(self) -> int:
        raw = self.cleaned_data["amount"].replace(",", "").strip()
        try:
            major = Decimal(raw)
            if not major.is_finite():
                raise InvalidOperation
            amount = to_minor_units(major, self.currency)
        except (InvalidOperation, ValueError) as error:
            message = str(error) if isinstance(error, ValueError) else "Enter a number."
            raise forms.ValidationError(message) from None
        if amount <= 0:
            raise forms.ValidationError("The amount must be more than zero.")
        return amount
