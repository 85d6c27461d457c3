"""Page forms of the marketplace app."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest

from marketplace.models import User

ROLE_CHOICES = [
    ("client", "Client — I want to hire"),
    ("freelancer", "Freelancer — I want to work"),
    ("both", "Both"),
]


class RolesSignupForm(forms.Form):
    """Extra sign-up fields (allauth's ACCOUNT_SIGNUP_FORM_CLASS), on pages and the headless API."""

    role = forms.ChoiceField(
        choices=ROLE_CHOICES,
        initial="client",
        widget=forms.RadioSelect,
        label="I am joining as",
    )
    first_name = forms.CharField(max_length=150, required=False, label="First name")
    last_name = forms.CharField(max_length=150, required=False, label="Last name")

    def signup(self, request: HttpRequest, user: User) -> None:
        role = self.cleaned_data["role"]
        user.is_client = role in ("client", "both")
        user.is_freelancer = role in ("freelancer", "both")
        user.first_name = self.cleaned_data.get("first_name", "")
        user.last_name = self.cleaned_data.get("last_name", "")
        user.save(update_fields=["is_client", "is_freelancer", "first_name", "last_name"])
