"""The card payment page when Stripe is the provider: Stripe's Payment Element
mounted with the PaymentIntent's client secret. (The sandbox has its own
checkout page.) The milestones are funded by the webhook, not by this page:
the browser's return only says "waiting for confirmation"."""

from __future__ import annotations

from csp.decorators import csp_update
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from escrow.models import Funding
from marketplace.money import format_amount
from marketplace.permissions import acting_user
from marketplace.services.contracts import workroom_url

STRIPE_JS = "https://js.stripe.com"


@login_required
@csp_update(  # type: ignore[arg-type]  # typed for views without URL arguments
    {
        "script-src": [STRIPE_JS],
        "frame-src": [STRIPE_JS, "https://hooks.stripe.com"],
        "connect-src": ["https://api.stripe.com"],
    }
)
def pay(request: HttpRequest, pk: int) -> HttpResponse:
    funding = get_object_or_404(
        Funding.objects.select_related("contract"), pk=pk, client=acting_user(request)
    )
    back = workroom_url(funding.contract)
    if funding.provider != "stripe":
        if funding.checkout_url and funding.status == Funding.Status.PENDING:
            return redirect(funding.checkout_url)
        raise Http404("No card payment page for this funding.")
    return render(
        request,
        "escrow/pay.html",
        {
            "funding": funding,
            "contract": funding.contract,
            "amount_display": format_amount(int(funding.amount), funding.currency),
            "items": funding.items.select_related("milestone"),
            "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
            "return_url": request.build_absolute_uri(back),
            "workroom_url": back,
            "can_pay": funding.status in (Funding.Status.PENDING, Funding.Status.FAILED),
        },
    )
