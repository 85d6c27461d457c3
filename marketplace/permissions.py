"""Who may act: one rule, reused by API views and pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from marketplace.models import User

UNVERIFIED_DETAIL = "Verify your e-mail address before moving money."


def acting_user(request: HttpRequest | Request) -> User:
    """The logged-in user of a view that already required a login."""
    assert isinstance(request.user, User)  # IsAuthenticated / login_required ran
    return request.user


def has_verified_email(user: Any) -> bool:
    """Money actions need a verified primary e-mail address."""
    if not user.is_authenticated:
        return False
    return EmailAddress.objects.filter(user=user, primary=True, verified=True).exists()


class IsVerified(BasePermission):
    """DRF permission for money endpoints: logged in with a verified e-mail."""

    message = UNVERIFIED_DETAIL
    code = "email_unverified"

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_verified_email(request.user)


def verified_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Page decorator: log in first, then verify the e-mail address, then act."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not has_verified_email(request.user):
            messages.warning(request, UNVERIFIED_DETAIL)
            return redirect("account_email")
        return view(request, *args, **kwargs)

    return wrapper
