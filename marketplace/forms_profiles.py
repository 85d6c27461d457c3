"""Page forms for profiles, the freelancer search and reviews.

Forms parse what people type (major units, choices); the services decide what is
allowed and their refusals land on the matching field through ``add_domain_error``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from marketplace.models import Skill
from marketplace.money import CURRENCY_CHOICES, to_minor_units
from marketplace.selectors.profiles import DEFAULT_RATE_CURRENCY, ORDERINGS, FreelancerSearch
from marketplace.services.profiles import known_timezones
from smartpay.errors import DomainError

RATING_CHOICES = [
    (5, "5 — Excellent"),
    (4, "4 — Good"),
    (3, "3 — Fair"),
    (2, "2 — Poor"),
    (1, "1 — Very poor"),
]


def add_domain_error(form: forms.Form, error: DomainError, fields: dict[str, str]) -> None:
    """Show a service's refusal on the field its code names, else above the form."""
    field = next((name for prefix, name in fields.items() if error.code.startswith(prefix)), None)
    form.add_error(field, error.detail)


def _skill_field(label: str, help_text: str) -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=Skill.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        label=label,
        help_text=help_text,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )


def _minor(form: forms.Form, field: str, amount: Decimal | None, currency: str) -> int | None:
    if amount is None:
        return None
    try:
        return to_minor_units(amount, currency)
    except ValueError as error:
        form.add_error(field, str(error))
        return None


class FreelancerSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search by name or headline")
    skills = _skill_field("Skills", "Freelancers with any of the chosen skills are shown.")
    rate_min = forms.DecimalField(
        required=False, min_value=0, max_digits=20, label="Lowest hourly rate"
    )
    rate_max = forms.DecimalField(
        required=False, min_value=0, max_digits=20, label="Highest hourly rate"
    )
    currency = forms.ChoiceField(
        required=False,
        choices=[("", "Any currency"), *CURRENCY_CHOICES],
        label="Rate currency",
        help_text="A rate range without a currency compares US dollars.",
    )
    ordering = forms.ChoiceField(
        required=False, choices=list(ORDERINGS.items()), initial="rating", label="Sort by"
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        currency = cleaned.get("currency") or DEFAULT_RATE_CURRENCY
        cleaned["rate_min_minor"] = _minor(self, "rate_min", cleaned.get("rate_min"), currency)
        cleaned["rate_max_minor"] = _minor(self, "rate_max", cleaned.get("rate_max"), currency)
        return cleaned

    def criteria(self) -> FreelancerSearch:
        data = self.cleaned_data
        return FreelancerSearch(
            q=data.get("q", ""),
            skills=[skill.slug for skill in data.get("skills") or []],
            rate_min=data.get("rate_min_minor"),
            rate_max=data.get("rate_max_minor"),
            currency=data.get("currency", ""),
            ordering=data.get("ordering") or "rating",
        )


SEARCH_ERROR_FIELDS = {"invalid_rate_range": "rate_min", "invalid_currency": "currency"}


class ProfileForm(forms.Form):
    headline = forms.CharField(
        required=False, max_length=120, help_text="One line clients see first."
    )
    bio = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 6}), label="About you"
    )
    skills = _skill_field("Skills", "Hold Ctrl (or ⌘) to choose several, up to 20.")
    hourly_rate = forms.DecimalField(
        required=False,
        max_digits=30,
        label="Hourly rate",
        help_text="In the currency below, e.g. 85.00. Leave empty to show no rate.",
    )
    currency = forms.ChoiceField(choices=CURRENCY_CHOICES, label="Currency")
    country = forms.CharField(
        required=False,
        max_length=2,
        help_text="Two-letter code, e.g. DE or US.",
        widget=forms.TextInput(attrs={"autocomplete": "country", "size": 2}),
    )
    timezone = forms.ChoiceField(label="Time zone", choices=())
    avatar = forms.FileField(
        required=False,
        help_text="PNG, JPEG, GIF or WebP, up to 5 MB.",
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}),
    )
    remove_avatar = forms.BooleanField(required=False, label="Remove my current avatar")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        timezone_field = self.fields["timezone"]
        assert isinstance(timezone_field, forms.ChoiceField)
        timezone_field.choices = [(name, name) for name in sorted(known_timezones())]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        currency = cleaned.get("currency") or DEFAULT_RATE_CURRENCY
        cleaned["hourly_rate_minor"] = _minor(
            self, "hourly_rate", cleaned.get("hourly_rate"), currency
        )
        return cleaned

    def changes(self) -> dict[str, Any]:
        """Keyword arguments for ``update_profile``."""
        data = self.cleaned_data
        changes: dict[str, Any] = {
            "headline": data["headline"],
            "bio": data["bio"],
            "skills": [skill.slug for skill in data["skills"]],
            "hourly_rate": data["hourly_rate_minor"],
            "currency": data["currency"],
            "country": data["country"],
            "timezone": data["timezone"],
        }
        if data.get("avatar"):
            changes["avatar"] = data["avatar"]
        elif data.get("remove_avatar"):
            changes["avatar"] = None
        return changes


PROFILE_ERROR_FIELDS = {
    "invalid_hourly_rate": "hourly_rate",
    "invalid_currency": "currency",
    "invalid_country": "country",
    "invalid_timezone": "timezone",
    "unknown_skill": "skills",
    "too_many_skills": "skills",
    "invalid_headline": "headline",
    "invalid_bio": "bio",
    "avatar_": "avatar",
}


class PortfolioItemForm(forms.Form):
    title = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    link = forms.CharField(
        required=False,
        max_length=200,
        help_text="An http(s) address, optional.",
        widget=forms.URLInput(),
    )
    file = forms.FileField(
        required=False, help_text="Optional: PDF, image, text, Markdown, ZIP or DOCX, up to 25 MB."
    )


PORTFOLIO_ERROR_FIELDS = {
    "invalid_title": "title",
    "invalid_description": "description",
    "invalid_link": "link",
    "file_": "file",
}


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        choices=RATING_CHOICES, coerce=int, widget=forms.RadioSelect, label="Your rating"
    )
    text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        label="Your review",
        help_text="What went well, what could be better. Shown once both of you have reviewed.",
    )


REVIEW_ERROR_FIELDS = {"invalid_rating": "rating", "review_too_long": "text"}
