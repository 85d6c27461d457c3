"""Pages for offers, the contract workroom, my contracts and the dashboard.

Thin: parse the form, call one service, render. Objects that are not yours are 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.timesince import timesince
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketplace.forms_contracts import MilestoneForm, RevisionForm, SubmitWorkForm
from marketplace.models import Contract, Milestone
from marketplace.money import CURRENCIES, Rail, format_amount
from marketplace.permissions import acting_user, verified_required
from marketplace.selectors import contracts as selectors
from marketplace.services import contracts as contract_services
from marketplace.services import milestones as milestone_services
from smartpay.errors import DomainError, NotFoundError
from smartpay.uploads import private_download

S = Milestone.Status


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _act(action: Callable[[], Any]) -> tuple[Any, DomainError | None]:
    """Run a service; a hidden object becomes a 404, any other refusal is returned."""
    try:
        return action(), None
    except NotFoundError as error:
        raise Http404(error.detail) from None
    except DomainError as error:
        return None, error


# --- what happens next, in words ----------------------------------------------------


def next_step(milestone: Milestone, *, viewer_is_client: bool) -> str:
    status = milestone.status
    revised = status == S.FUNDED and bool(milestone.submissions.all())
    if status == S.DRAFT:
        return (
            "Waiting for you to fund it" if viewer_is_client else "Waiting for the client to fund"
        )
    if status == S.FUNDED and revised:
        return (
            "Revision requested — waiting for a new submission"
            if viewer_is_client
            else "Revision requested — submit a new version"
        )
    if status == S.FUNDED:
        return (
            "Waiting for the freelancer to submit work"
            if viewer_is_client
            else "Funded — submit your work when it is ready"
        )
    if status == S.SUBMITTED and milestone.submitted_at:
        ago = timesince(milestone.submitted_at).split(",")[0]
        text = "Submitted just now" if ago.startswith("0\xa0") else f"Submitted {ago} ago"
        if milestone.review_deadline:
            deadline = timezone.localtime(milestone.review_deadline)
            text += f" — auto-release on {format_date(deadline, 'j M')}"
        return text + (" unless you request a revision" if viewer_is_client else "")
    final_steps: dict[str, str] = {
        S.RELEASED: "Paid to the freelancer",
        S.REFUNDED: "Refunded to the client",
        S.DISPUTED: "An arbiter is reviewing the dispute",
        S.RESOLVED: "Settled by the arbiter",
    }
    return final_steps.get(status, milestone.get_status_display())


def _with_amounts(contract: Contract) -> list[Milestone]:
    """The contract's (prefetched) milestones, each with its amount formatted."""
    milestones = list(contract.milestones.all())
    for milestone in milestones:
        milestone.amount_display = format_amount(milestone.amount, contract.currency)  # type: ignore[attr-defined]
    return milestones


# The proposal review page belongs to the jobs area; link to it under whichever name it has.
JOB_PAGE_NAMES = ("job_proposals", "proposal_review", "job_detail")


def _job_review_url(job_id: int) -> str:
    for name in JOB_PAGE_NAMES:
        try:
            return reverse(name, args=[job_id])
        except NoReverseMatch:
            continue
    return ""


def _terms(contract: Contract) -> dict[str, Any]:
    total = sum(int(m.amount) for m in contract.milestones.all())
    return {
        "total_display": format_amount(total, contract.currency),
        "currency_name": CURRENCIES[contract.currency].name,
        "rail_words": Rail(contract.rail).label,
        "fee_percent": f"{contract.fee_bps / 100:g} %",
    }


# --- dashboard and lists ------------------------------------------------------------


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    board = selectors.dashboard_for(acting_user(request))
    for job in board.jobs_with_proposals:
        job.review_url = _job_review_url(job.pk)  # type: ignore[attr-defined]
    return render(request, "marketplace/contracts/dashboard.html", {"board": board})


@login_required
@require_GET
def contract_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or None
    role = request.GET.get("role") or None
    if status not in (None, *Contract.Status.values):
        status = None
    if role not in (None, *selectors.ROLES):
        role = None
    contracts = selectors.contracts_for(acting_user(request), status=status, role=role)
    page = Paginator(contracts, 20).get_page(request.GET.get("page"))
    for contract in page.object_list:
        total = sum(int(m.amount) for m in contract.milestones.all())
        contract.total_display = format_amount(total, contract.currency)
    return render(
        request,
        "marketplace/contracts/list.html",
        {
            "page": page,
            "status": status,
            "role": role,
            "statuses": Contract.Status.choices,
        },
    )


# --- offers -------------------------------------------------------------------------


def _contract_or_404(request: HttpRequest, pk: int) -> Contract:
    contract = selectors.contracts_for(acting_user(request)).filter(pk=pk).first()
    if contract is None:
        raise Http404("No such contract.")
    return contract


@login_required
@require_GET
def offer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract_or_404(request, pk)
    return render(
        request,
        "marketplace/contracts/offer.html",
        {
            "contract": contract,
            "milestones": _with_amounts(contract),
            "is_client": contract.client_id == request.user.pk,
            **_terms(contract),
        },
    )


def _offer_action(
    request: HttpRequest, pk: int, service: Callable[..., Contract], done: str
) -> HttpResponse:
    contract, error = _act(lambda: service(actor=acting_user(request), contract_id=pk))
    if error:
        messages.error(request, error.detail)
        return redirect("offer_detail", pk)
    messages.success(request, done)
    if contract.status == Contract.Status.ACTIVE:
        return redirect("contract_workroom", pk)
    return redirect("offer_detail", pk)


@verified_required
@require_POST
def offer_accept(request: HttpRequest, pk: int) -> HttpResponse:
    return _offer_action(
        request, pk, contract_services.accept_offer, "Offer accepted. The contract is active."
    )


@login_required
@require_POST
def offer_decline(request: HttpRequest, pk: int) -> HttpResponse:
    return _offer_action(request, pk, contract_services.decline_offer, "Offer declined.")


@login_required
@require_POST
def offer_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _offer_action(request, pk, contract_services.withdraw_offer, "Offer withdrawn.")


@verified_required
@require_POST
def proposal_offer(request: HttpRequest, proposal_id: int) -> HttpResponse:
    """The proposal review page posts here to send the freelancer an offer."""
    rail = request.POST.get("rail") or None
    contract, error = _act(
        lambda: contract_services.offer_contract(
            actor=acting_user(request), proposal_id=proposal_id, rail=rail
        )
    )
    if error:
        messages.error(request, error.detail)
        back = request.META.get("HTTP_REFERER", "")
        if back and url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return redirect(back)
        return redirect("dashboard")
    messages.success(request, "Offer sent. The freelancer has been told.")
    return redirect("offer_detail", contract.pk)


# --- the workroom -------------------------------------------------------------------


def _workroom(
    request: HttpRequest,
    pk: int,
    *,
    bound: dict[tuple[str, int], Any] | None = None,
    template: str = "marketplace/contracts/workroom.html",
    status: int = 200,
    plan_notice: str = "",
) -> HttpResponse:
    """Render the workroom; ``bound`` replaces the blank form of one milestone with
    the submitted one, so its errors show next to it."""
    contract = selectors.workroom_contract(acting_user(request), pk)
    if contract is None:
        raise Http404("No such contract.")
    bound = bound or {}
    is_client = contract.client_id == request.user.pk
    milestones = _with_amounts(contract)
    for milestone in milestones:
        milestone.next_step = next_step(milestone, viewer_is_client=is_client)  # type: ignore[attr-defined]
        milestone.submit_form = bound.get(("submit", milestone.pk)) or SubmitWorkForm(  # type: ignore[attr-defined]
            auto_id=f"submit-{milestone.pk}-%s"
        )
        milestone.revision_form = bound.get(("revision", milestone.pk)) or RevisionForm(  # type: ignore[attr-defined]
            auto_id=f"revision-{milestone.pk}-%s"
        )
        milestone.edit_form = bound.get(("edit", milestone.pk)) or MilestoneForm(  # type: ignore[attr-defined]
            currency=contract.currency,
            auto_id=f"edit-{milestone.pk}-%s",
            initial={
                "title": milestone.title,
                "amount": format_amount(milestone.amount, contract.currency)
                .lstrip(CURRENCIES[contract.currency].symbol)
                .replace(",", ""),
                "due_date": milestone.due_date,
            },
        )
        milestone.latest_revision = next(iter(milestone.revisions.all()), None)  # type: ignore[attr-defined]
    add_form = bound.get(("add", 0)) or MilestoneForm(currency=contract.currency, auto_id="add-%s")
    context = {
        "contract": contract,
        "milestones": milestones,
        "activity": list(contract.activity.all()[:50]),
        "is_client": is_client,
        "is_freelancer": contract.freelancer_id == request.user.pk,
        "can_edit_plan": is_client and contract.status == Contract.Status.ACTIVE,
        "is_active": contract.status == Contract.Status.ACTIVE,
        "add_form": add_form,
        "plan_notice": plan_notice,
        "partial": template != "marketplace/contracts/workroom.html",
        **_terms(contract),
    }
    return render(request, template, context, status=status)


@login_required
@require_GET
def contract_workroom(request: HttpRequest, pk: int) -> HttpResponse:
    return _workroom(request, pk)


def _milestone_contract_id(request: HttpRequest, milestone_id: int) -> int:
    contract_id = (
        selectors.milestones_for(acting_user(request))
        .filter(pk=milestone_id)
        .values_list("contract_id", flat=True)
        .first()
    )
    if contract_id is None:
        raise Http404("No such milestone.")
    return contract_id


def _form_failed(
    request: HttpRequest, contract_id: int, key: tuple[str, int], form: Any, error: DomainError
) -> HttpResponse:
    form.add_error(None, error.detail)
    # The form may not be on the page any more (a funded milestone): say it in the notice too.
    return _after_plan_change(
        request, contract_id, bound={key: form}, status=error.status_code, notice=error.detail
    )


@login_required
@require_POST
def milestone_submit(request: HttpRequest, pk: int) -> HttpResponse:
    contract_id = _milestone_contract_id(request, pk)
    form = SubmitWorkForm(request.POST, request.FILES, auto_id=f"submit-{pk}-%s")
    if not form.is_valid():
        return _workroom(request, contract_id, bound={("submit", pk): form}, status=400)
    submission, error = _act(
        lambda: milestone_services.submit_milestone(
            actor=acting_user(request),
            milestone_id=pk,
            message=form.cleaned_data["message"],
            files=form.cleaned_data["files"],
        )
    )
    if error:
        form.add_error(None, error.detail)
        return _workroom(
            request, contract_id, bound={("submit", pk): form}, status=error.status_code
        )
    messages.success(request, f"Submission {submission.number} sent to the client.")
    return redirect("contract_workroom", contract_id)


@login_required
@require_POST
def milestone_request_revision(request: HttpRequest, pk: int) -> HttpResponse:
    contract_id = _milestone_contract_id(request, pk)
    form = RevisionForm(request.POST, auto_id=f"revision-{pk}-%s")
    if not form.is_valid():
        return _workroom(request, contract_id, bound={("revision", pk): form}, status=400)
    _, error = _act(
        lambda: milestone_services.request_revision(
            actor=acting_user(request), milestone_id=pk, reason=form.cleaned_data["reason"]
        )
    )
    if error:
        form.add_error(None, error.detail)
        return _workroom(
            request, contract_id, bound={("revision", pk): form}, status=error.status_code
        )
    messages.success(request, "Revision requested. The freelancer has been told.")
    return redirect("contract_workroom", contract_id)


# --- the milestone plan editor (client; htmx swaps #milestones) -----------------------


def _after_plan_change(
    request: HttpRequest,
    contract_id: int,
    *,
    bound: dict[tuple[str, int], Any] | None = None,
    status: int = 200,
    notice: str = "",
) -> HttpResponse:
    if _is_htmx(request):
        # The partial announces the outcome in its aria-live region.
        return _workroom(
            request,
            contract_id,
            bound=bound,
            status=status,
            plan_notice=notice,
            template="marketplace/contracts/_milestones.html",
        )
    if bound:
        return _workroom(request, contract_id, bound=bound, status=status, plan_notice=notice)
    messages.success(request, notice)
    return redirect("contract_workroom", contract_id)


@login_required
@require_POST
def milestone_add(request: HttpRequest, pk: int) -> HttpResponse:
    contract = _contract_or_404(request, pk)
    form = MilestoneForm(request.POST, currency=contract.currency, auto_id="add-%s")
    if not form.is_valid():
        return _after_plan_change(request, pk, bound={("add", 0): form}, status=400)
    milestone, error = _act(
        lambda: milestone_services.add_milestone(
            actor=acting_user(request), contract_id=pk, **form.cleaned_data
        )
    )
    if error:
        return _form_failed(request, pk, ("add", 0), form, error)
    return _after_plan_change(request, pk, notice=f"Milestone “{milestone.title}” added.")


@login_required
@require_http_methods(["POST"])
def milestone_edit(request: HttpRequest, pk: int) -> HttpResponse:
    contract_id = _milestone_contract_id(request, pk)
    contract = _contract_or_404(request, contract_id)
    form = MilestoneForm(request.POST, currency=contract.currency, auto_id=f"edit-{pk}-%s")
    if not form.is_valid():
        return _after_plan_change(request, contract_id, bound={("edit", pk): form}, status=400)
    milestone, error = _act(
        lambda: milestone_services.update_milestone(
            actor=acting_user(request), milestone_id=pk, **form.cleaned_data
        )
    )
    if error:
        return _form_failed(request, contract_id, ("edit", pk), form, error)
    return _after_plan_change(request, contract_id, notice=f"Milestone “{milestone.title}” saved.")


@login_required
@require_POST
def milestone_remove(request: HttpRequest, pk: int) -> HttpResponse:
    contract_id = _milestone_contract_id(request, pk)
    _, error = _act(
        lambda: milestone_services.remove_milestone(actor=acting_user(request), milestone_id=pk)
    )
    if error:
        if _is_htmx(request):
            return _after_plan_change(
                request, contract_id, status=error.status_code, notice=error.detail
            )
        messages.error(request, error.detail)
        return redirect("contract_workroom", contract_id)
    return _after_plan_change(request, contract_id, notice="Milestone removed.")


# --- files --------------------------------------------------------------------------


@login_required
@require_GET
def contract_file_download(request: HttpRequest, file_id: int) -> FileResponse:
    """Deliverables stream only to the contract's parties."""
    item = selectors.file_for(acting_user(request), file_id)
    if item is None:
        raise Http404("No such file.")
    return private_download(item.file, name=item.name, content_type=item.content_type)
