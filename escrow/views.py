"""Money pages: balances and payouts, the statement, receipts.

Thin: parse the form, call one service, redirect with a message. A refusal
(DomainError) becomes a message, never a 500; objects that are not yours are 404.
The workroom's money panel and its buttons are in ``escrow.views_workroom``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from escrow import selectors
from escrow.forms import AutoPayoutForm, PayoutForm, StatementFilterForm, new_request_key
from escrow.models import Payout, PayoutAccount
from escrow.services import payout_accounts
from escrow.services import payouts as payout_services
from escrow.statements_csv import csv_response
from marketplace.money import CURRENCIES, Rail, format_amount
from marketplace.permissions import acting_user, verified_required
from smartpay.errors import DomainError, NotFoundError

T = TypeVar("T")
STATEMENT_PAGE_SIZE = 50
PAYOUT_PAGE_SIZE = 20


def attempt(request: HttpRequest, action: Callable[[], T]) -> T | None:
    """Run one service; a hidden object is a 404, any other refusal a message."""
    try:
        return action()
    except NotFoundError as error:
        raise Http404(error.detail) from None
    except DomainError as error:
        messages.error(request, error.detail)
        return None


def first_error(form: Any) -> str:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        return f"{label}: {errors[0]}" if label else str(errors[0])
    return "Check the form and try again."


# --- /money/ ----------------------------------------------------------------------------


def _payout_currencies(balances: list[dict[str, Any]]) -> list[str]:
    held = [entry["currency"] for entry in balances if entry["available"] > 0]
    return [code for code in held if CURRENCIES[code].rail == Rail.CARD]


@login_required
@require_GET
def money(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    balances = selectors.balances(user)
    account = selectors.payout_account_for(user)
    payouts = Paginator(selectors.payouts_for(user), PAYOUT_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    fundings = list(selectors.fundings_for(user)[:10])
    currencies = _payout_currencies(balances)
    context = {
        "balances": balances,
        "account": account,
        "payouts": payouts,
        "fundings": fundings,
        "payout_form": PayoutForm(
            currencies=currencies, initial={"request_key": new_request_key()}
        ),
        "auto_form": AutoPayoutForm(
            initial={"enabled": bool(account and account.auto_payout_weekly)}
        ),
        "payout_minimum": format_amount(settings.PAYOUT_MINIMUM, currencies[0])
        if currencies
        else format_amount(settings.PAYOUT_MINIMUM, "usd"),
        # Payouts are a freelancer's; a client's balance funds their next milestones.
        "shows_payouts": user.is_freelancer or account is not None,
        "hold_days": settings.PAYOUT_HOLD_DAYS,
    }
    return render(request, "escrow/money.html", context)


# --- payouts ------------------------------------------------------------------------------


def onboarding_urls() -> dict[str, str]:
    """Where the provider sends the freelancer back: our pages, on the public site URL."""
    return {
        "return_url": settings.SITE_URL + reverse("money_payout_return"),
        "refresh_url": settings.SITE_URL + reverse("money_payout_connect"),
    }


@verified_required
@require_http_methods(["GET", "POST"])
def payout_connect(request: HttpRequest) -> HttpResponse:
    """The button (POST) starts onboarding; the provider's refresh link (GET) asks
    for a fresh onboarding link once an account exists."""
    user = acting_user(request)
    if request.method == "GET" and not PayoutAccount.objects.filter(user=user).exists():
        return redirect("money")
    url = attempt(
        request,
        lambda: payout_accounts.connect_payout_account(actor=user, **onboarding_urls()),
    )
    return redirect(url) if url else redirect("money")


@login_required
@require_GET
def payout_return(request: HttpRequest) -> HttpResponse:
    """Back from onboarding: ask the provider where the account stands now."""
    account = selectors.payout_account_for(acting_user(request))
    if account is None:
        return redirect("money")
    synced = attempt(
        request, lambda: payout_accounts.sync_payout_account(account_id=account.account_id)
    )
    if synced is not None:
        if synced.payouts_enabled:
            messages.success(request, "Your payout account is ready: you can request payouts.")
        else:
            messages.warning(
                request, f"Your payout account: {synced.get_status_display().lower()}."
            )
    return redirect("money")


@verified_required
@require_POST
def payout_request(request: HttpRequest) -> HttpResponse:
    form = PayoutForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return redirect("money")
    payout = attempt(
        request,
        lambda: payout_services.request_payout(
            actor=acting_user(request),
            currency=form.cleaned_data["currency"],
            amount=form.cleaned_data["amount"],
            request_key=f"page:{form.cleaned_data['request_key']}",
        ),
    )
    if payout is not None:
        messages.success(
            request,
            f"Payout of {format_amount(payout.amount, payout.currency)} requested: "
            f"{payout.get_status_display().lower()}.",
        )
    return redirect("money")


@verified_required
@require_POST
def auto_payout(request: HttpRequest) -> HttpResponse:
    form = AutoPayoutForm(request.POST)
    form.is_valid()  # an unticked box is simply False
    enabled = bool(form.cleaned_data.get("enabled"))
    account = attempt(
        request,
        lambda: payout_accounts.set_auto_payout(actor=acting_user(request), enabled=enabled),
    )
    if account is not None:
        messages.success(
            request,
            "Weekly automatic payouts are on."
            if account.auto_payout_weekly
            else "Weekly automatic payouts are off.",
        )
    return redirect("money")


# --- the statement ------------------------------------------------------------------------


@login_required
@require_GET
def transactions(request: HttpRequest) -> HttpResponseBase:
    form = StatementFilterForm(request.GET or None)
    statement = selectors.transactions(acting_user(request), **form.filters())
    if request.GET.get("format") == "csv":
        return csv_response(statement)
    page = Paginator(statement, STATEMENT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    csv_query = query.copy()
    csv_query["format"] = "csv"
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "csv_url": f"{reverse('money_transactions')}?{csv_query.urlencode()}",
        "filtered": bool(form.filters()),
    }
    return render(request, "escrow/transactions.html", context)


# --- receipts -----------------------------------------------------------------------------


@login_required
@require_GET
def funding_receipt(request: HttpRequest, pk: int) -> HttpResponse:
    funding = selectors.fundings_for(acting_user(request)).filter(pk=pk).first()
    if funding is None:
        raise Http404("No such payment.")
    items = list(funding.items.all())
    for item in items:
        item.amount_display = format_amount(item.amount, funding.currency)  # type: ignore[attr-defined]
    contract = funding.contract
    context = {
        "funding": funding,
        "contract": contract,
        "items": items,
        "amount_display": format_amount(funding.amount, funding.currency),
        "client_fee_display": format_amount(0, funding.currency),
        "fee_percent": f"{contract.fee_bps / 100:g} %",
    }
    return render(request, "escrow/receipt_funding.html", context)


@login_required
@require_GET
def payout_receipt(request: HttpRequest, pk: int) -> HttpResponse:
    payout: Payout | None = selectors.payouts_for(acting_user(request)).filter(pk=pk).first()
    if payout is None:
        raise Http404("No such payout.")
    context = {
        "payout": payout,
        "amount_display": format_amount(payout.amount, payout.currency),
        "fee_display": format_amount(0, payout.currency),
        "reversed_display": format_amount(payout.reversed_amount, payout.currency),
    }
    return render(request, "escrow/receipt_payout.html", context)
