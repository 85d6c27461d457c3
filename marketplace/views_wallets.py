"""Wallet pages: list, connect (through static/js/wallet.js and the API), make primary, unlink."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from marketplace import wallets
from marketplace.permissions import acting_user
from smartpay.errors import DomainError, NotFoundError


@login_required
@require_GET
def wallet_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "marketplace/wallets.html",
        {"wallets": list(wallets.list_wallets(acting_user(request)))},
    )


@login_required
@require_POST
def make_primary(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        wallet = wallets.make_primary_wallet(actor=acting_user(request), wallet_id=pk)
    except NotFoundError as error:
        raise Http404(error.detail) from None
    messages.success(request, f"{wallet.address} is now your primary wallet.")
    return redirect("wallets")


@login_required
@require_POST
def unlink(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        wallet = wallets.unlink_wallet(request, wallet_id=pk)
    except NotFoundError as error:
        raise Http404(error.detail) from None
    except wallets.ReauthenticationRequired:
        messages.info(request, "Confirm your password, then unlink the wallet again.")
        query = urlencode({"next": reverse("wallets")})
        return HttpResponseRedirect(f"{reverse('account_reauthenticate')}?{query}")
    except DomainError as error:
        messages.error(request, error.detail)
        return redirect("wallets")
    messages.success(request, f"{wallet.address} is no longer linked to your account.")
    return redirect("wallets")
