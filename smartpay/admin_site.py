"""The admin is the ops console: staff reach it only through allauth's login and
only with two-factor authentication turned on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from allauth.account.authentication import get_authentication_records
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

if TYPE_CHECKING:
    from marketplace.models import User


class SmartPayAdminSite(admin.AdminSite):
    site_header = "SmartPay operations"
    site_title = "SmartPay admin"
    index_title = "Operations console"

    def has_permission(self, request: HttpRequest) -> bool:
        """Staff, with MFA on, in a session that passed the second factor (a wallet
        sign-in or a session from elsewhere does not count)."""
        user = request.user
        if not super().has_permission(request) or not is_mfa_enabled(user):
            return False
        records = get_authentication_records(request, user)
        return any(record.get("method") == "mfa" for record in records)

    def index(self, request: HttpRequest, extra_context: Any = None) -> TemplateResponse:
        """The ops console: the figures this user may see above the list of models."""
        from smartpay.dashboard import dashboard_for  # the apps' models load after the site

        user = cast("User", request.user)  # the admin lets in only staff who signed in
        context = {**(extra_context or {}), "dashboard": dashboard_for(user)}
        return super().index(request, context)

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """Django's admin login would skip the second factor: send everyone to allauth."""
        next_url = request.GET.get("next") or reverse("admin:index")
        user = request.user
        if user.is_authenticated and user.is_staff and not is_mfa_enabled(user):
            messages.warning(
                request,
                "The admin needs two-factor authentication. Set up an authenticator app "
                "to continue.",
            )
            return HttpResponseRedirect(reverse("mfa_activate_totp"))
        if user.is_authenticated and user.is_staff:
            messages.warning(request, "Confirm your second factor to open the admin.")
            return HttpResponseRedirect(
                f"{reverse('mfa_reauthenticate')}?{urlencode({'next': next_url})}"
            )
        if user.is_authenticated:
            messages.error(request, "Your account has no access to the admin.")
            return HttpResponseRedirect(reverse("home"))
        return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")
