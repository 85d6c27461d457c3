"""The contract workroom's money panel (an htmx fragment) and the buttons on it.

The workroom loads the panel with ``hx-get``; without JavaScript its link opens
the same panel as a page. Every button POSTs here, calls one service and
redirects back to the workroom with a message (a card funding goes on to the
checkout page instead). Chain-rail contracts get their own panel
(``escrow.views_chain``), whose buttons hand transactions to the browser wallet.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from escrow import selectors, views_chain
from escrow.forms import ApproveForm, FundForm, RefundRequestForm, new_request_key
from escrow.models import Funding, RefundRequest
from escrow.services import funding as funding_services
from escrow.services import refunds as refund_services
from escrow.services import release as release_services
from escrow.views import attempt, first_error
from marketplace.models import Contract, Milestone
from marketplace.money import Rail, format_amount
from marketplace.permissions import acting_user, verified_required
from marketplace.selectors.contracts import milestones_for
from marketplace.services.contracts import visible_contracts, workroom_url


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _contract(request: HttpRequest, pk: int) -> Contract:
    contract = (
        visible_contracts(acting_user(request))
        .select_related("client", "freelancer")
        .filter(pk=pk)
        .first()
    )
    if contract is None:
        raise Http404("No such contract.")
    return contract


def _milestone(request: HttpRequest, pk: int) -> Milestone:
    milestone = milestones_for(acting_user(request)).filter(pk=pk).first()
    if milestone is None:
        raise Http404("No such milestone.")
    return milestone


def _back(contract: Contract) -> HttpResponse:
    return redirect(workroom_url(contract))


@login_required
@require_GET
def contract_panel(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract(request, pk)
    if contract.rail == Rail.CHAIN:
        return views_chain.render_panel(request, contract, htmx=_is_htmx(request))
    money = selectors.contract_money(contract, acting_user(request))
    fund_form = FundForm(
        choices=[
            (entry.milestone.pk, f"“{entry.milestone.title}” — {entry.amount_display}")
            for entry in money.fundable
        ],
        initial={"request_key": new_request_key(), "source": Funding.Source.CARD},
        auto_id="fund-%s",
    )
    context = {
        "contract": contract,
        "money": money,
        "fund_form": fund_form,
        "rows": [
            {
                "entry": entry,
                "approve_form": ApproveForm(
                    currency=contract.currency, auto_id=f"approve-{entry.milestone.pk}-%s"
                ),
                "refund_request_form": RefundRequestForm(
                    auto_id=f"refund-request-{entry.milestone.pk}-%s"
                ),
            }
            for entry in money.milestones
        ],
    }
    if not _is_htmx(request):
        return render(request, "escrow/contract_money.html", context)
    response = render(request, "escrow/_contract_panel.html", context)
    if request.GET.get("waiting") and not money.waiting_for_payment:
        # The card payment the panel was watching has finished: milestone statuses
        # elsewhere on the workroom changed too, so reload the whole page.
        response["HX-Refresh"] = "true"
    elif _statuses_changed(request.GET.get("shown"), money):
        # A payment confirmed between the workroom's render and this first load.
        response["HX-Refresh"] = "true"
    return response


def _statuses_changed(shown: str | None, money: selectors.ContractMoney) -> bool:
    """Whether the milestone statuses the workroom rendered (``"pk:status,..."``) are
    no longer the current ones."""
    if not shown:
        return False
    current = {str(entry.milestone.pk): entry.milestone.status for entry in money.milestones}
    pairs = dict(item.partition(":")[::2] for item in shown.split(",") if ":" in item)
    return any(current.get(pk, status) != status for pk, status in pairs.items())


@verified_required
@require_POST
def fund(request: HttpRequest, pk: int) -> HttpResponse:
    """Fund the chosen draft milestones of the contract, by card or from the balance."""
    contract = _contract(request, pk)
    draft_ids = contract.milestones.filter(status=Milestone.Status.DRAFT).values_list(
        "pk", flat=True
    )
    form = FundForm(request.POST, choices=[(milestone_id, "") for milestone_id in draft_ids])
    if not form.is_valid():
        messages.error(request, first_error(form))
        return _back(contract)
    funding = attempt(
        request,
        lambda: funding_services.start_funding(
            actor=acting_user(request),
            milestone_ids=form.cleaned_data["milestones"],
            request_key=f"page:{form.cleaned_data['request_key']}",
            source=form.cleaned_data["source"],
        ),
    )
    if funding is None:
        return _back(contract)
    amount = format_amount(funding.amount, funding.currency)
    if funding.status == Funding.Status.SUCCEEDED:
        messages.success(request, f"{amount} moved from your balance into escrow.")
    elif funding.status == Funding.Status.PENDING:
        # The sandbox's checkout page, or the page that mounts Stripe's Payment Element.
        return redirect(funding.checkout_url or reverse("escrow_funding_pay", args=[funding.pk]))
    else:
        messages.info(request, f"Payment of {amount}: {funding.get_status_display().lower()}.")
    return _back(contract)


@verified_required
@require_POST
def funding_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    funding = selectors.fundings_for(acting_user(request)).filter(pk=pk).first()
    if funding is None:
        raise Http404("No such payment.")
    if attempt(
        request,
        lambda: funding_services.cancel_funding(actor=acting_user(request), funding_id=pk),
    ):
        messages.success(request, "The card payment was cancelled; nothing was charged.")
    return _back(funding.contract)


@verified_required
@require_POST
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    milestone = _milestone(request, pk)
    contract = milestone.contract
    form = ApproveForm(request.POST, currency=contract.currency)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return _back(contract)
    release = attempt(
        request,
        lambda: release_services.approve_milestone(
            actor=acting_user(request), milestone_id=pk, amount=form.cleaned_data["amount"]
        ),
    )
    if release is not None:
        cur = release.currency
        text = (
            f"Released {format_amount(release.amount, cur)} for “{milestone.title}”: "
            f"{format_amount(release.freelancer_amount, cur)} to the freelancer after the "
            f"{format_amount(release.fee, cur)} platform fee."
        )
        if release.returned_amount:
            text += f" {format_amount(release.returned_amount, cur)} went back to your balance."
        messages.success(request, text)
    return _back(contract)


@verified_required
@require_POST
def refund(request: HttpRequest, pk: int) -> HttpResponse:
    """The freelancer refunds a funded milestone (or accepts the client's request)."""
    milestone = _milestone(request, pk)
    done = attempt(
        request,
        lambda: refund_services.refund_milestone(actor=acting_user(request), milestone_id=pk),
    )
    if done is not None:
        messages.success(
            request,
            f"Refunded {format_amount(done.amount, done.currency)} for “{milestone.title}” "
            f"({done.get_destination_display()}).",
        )
    return _back(milestone.contract)


@verified_required
@require_POST
def refund_request(request: HttpRequest, pk: int) -> HttpResponse:
    milestone = _milestone(request, pk)
    form = RefundRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return _back(milestone.contract)
    made = attempt(
        request,
        lambda: refund_services.request_refund(
            actor=acting_user(request),
            milestone_id=pk,
            reason=form.cleaned_data["reason"],
            destination=form.cleaned_data["destination"],
        ),
    )
    if made is not None:
        messages.success(
            request,
            f"Refund requested. The freelancer has until {made.respond_by:%d %b %Y} to answer; "
            "without an answer the money comes back to you.",
        )
    return _back(milestone.contract)


def _refund_request(request: HttpRequest, pk: int) -> RefundRequest:
    found = (
        RefundRequest.objects.filter(
            milestone__contract__in=visible_contracts(acting_user(request))
        )
        .select_related("milestone__contract")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise Http404("No such refund request.")
    return found


@verified_required
@require_POST
def refund_request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    found = _refund_request(request, pk)
    if attempt(
        request,
        lambda: refund_services.withdraw_refund_request(
            actor=acting_user(request), refund_request_id=pk
        ),
    ):
        messages.success(request, "Refund request withdrawn. The money stays in escrow.")
    return _back(found.milestone.contract)


@verified_required
@require_POST
def refund_request_decline(request: HttpRequest, pk: int) -> HttpResponse:
    found = _refund_request(request, pk)
    if attempt(
        request,
        lambda: refund_services.decline_refund_request(
            actor=acting_user(request), refund_request_id=pk
        ),
    ):
        messages.success(request, "Refund request declined. The client may open a dispute instead.")
    return _back(found.milestone.contract)
