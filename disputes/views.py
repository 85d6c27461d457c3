"""Dispute pages for the parties: my disputes, open one on a milestone, the case page
and its evidence files. The case page's forms post to ``disputes.views_actions``.

Thin: parse the form, call one service, render. Only the two parties of the
milestone's contract see a case here (arbiters work in the admin); anyone else gets
a 404. A refusal (DomainError) is shown as a form error with its detail, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateformat import format as format_date
from django.views.decorators.http import require_GET, require_http_methods

from disputes import selectors
from disputes.forms import (
    AppealForm,
    EscalateForm,
    EvidenceForm,
    OfferForm,
    OpenDisputeForm,
    RespondForm,
    amount_initial,
)
from disputes.models import BPS, Dispute, SettlementOffer
from disputes.services import open_dispute
from escrow.services.release import fee_for
from marketplace.models import Contract, Milestone, User
from marketplace.money import CURRENCIES, Rail, format_amount
from marketplace.permissions import UNVERIFIED_DETAIL, acting_user, has_verified_email
from marketplace.selectors.contracts import milestones_for
from marketplace.services.contracts import workroom_url
from smartpay.errors import DomainError, NotFoundError
from smartpay.uploads import private_download

S = Dispute.Status
T = TypeVar("T")
DISPUTABLE = (Milestone.Status.FUNDED, Milestone.Status.SUBMITTED)
PAGE_SIZE = 20


def attempt(action: Callable[[], T]) -> tuple[T | None, DomainError | None]:
    """Run one service; a hidden object is a 404, any other refusal is returned."""
    try:
        return action(), None
    except NotFoundError as error:
        raise Http404(error.detail) from None
    except DomainError as error:
        return None, error


def case_or_404(request: HttpRequest, pk: int) -> Dispute:
    dispute = (
        selectors.party_disputes(acting_user(request))
        .select_related("opened_by")
        .filter(pk=pk)
        .first()
    )
    if dispute is None:
        raise Http404("No such dispute.")
    return dispute


# --- in words -------------------------------------------------------------------------------


def when(moment: datetime) -> str:
    return format_date(timezone.localtime(moment), "j M Y, H:i T")


def share_words(bps: int) -> str:
    return f"{bps / 100:g} % to the freelancer"


@dataclass
class Split:
    """What each side gets of the milestone's escrow for a freelancer share."""

    bps: int
    freelancer: str  # before the platform fee
    freelancer_net: str
    fee: str
    client: str

    @property
    def words(self) -> str:
        return (
            f"{share_words(self.bps)}: {self.freelancer} to the freelancer "
            f"({self.freelancer_net} after the {self.fee} platform fee), "
            f"{self.client} back to the client"
        )


def split_of(contract: Contract, milestone: Milestone, bps: int) -> Split:
    held = int(milestone.amount)
    gross = held * bps // BPS
    fee = fee_for(gross, contract.fee_bps)
    money = contract.currency
    return Split(
        bps=bps,
        freelancer=format_amount(gross, money),
        freelancer_net=format_amount(gross - fee, money),
        fee=format_amount(fee, money),
        client=format_amount(held - gross, money),
    )


def _ask(contract: Contract, dispute: Dispute) -> str:
    """What silence gives the opener (disputes.services.deadlines)."""
    if dispute.opened_by_id == contract.freelancer_id:
        return "the whole milestone goes to the freelancer"
    return "the whole escrow goes back to the client"


def next_deadline(dispute: Dispute) -> tuple[str, datetime] | None:
    """The date that matters next, with its name."""
    if dispute.status == S.OPEN:
        return "Response due", dispute.response_due_at
    if dispute.status == S.ESCALATED and dispute.decision_due_at:
        return "Decision due", dispute.decision_due_at
    if dispute.status == S.DECIDED and dispute.appeal_due_at:
        return "Appeal until", dispute.appeal_due_at
    return None


def next_step(dispute: Dispute, viewer: User) -> str:
    """Where the case stands and what happens next, for ``viewer`` (a party)."""
    contract = dispute.milestone.contract
    opener = dispute.opened_by
    respondent = contract.freelancer if opener.pk == contract.client_id else contract.client
    share = share_words(int(dispute.freelancer_share_bps or 0))
    status = dispute.status
    if status == S.OPEN:
        due = when(dispute.response_due_at)
        if viewer.pk == opener.pk:
            return (
                f"Waiting for {respondent.display_name} to respond by {due}. Without a "
                f"response the dispute is resolved as you asked: {_ask(contract, dispute)}."
            )
        return (
            f"{opener.display_name} opened this dispute. Respond by {due}: without a response "
            f"it is resolved as they asked ({_ask(contract, dispute)})."
        )
    if status == S.RESPONDED:
        return (
            "Both sides have spoken. Agree on a split below (an accepted offer settles the "
            "dispute without an arbiter), or ask for an arbiter."
        )
    if status == S.ESCALATED:
        return _with_arbiter(dispute, share)
    if status == S.CONFIRMING:
        return (
            "An arbiter has decided. Because of the amount, a second arbiter must confirm the "
            "decision before it counts; you will both read it then."
        )
    if status == S.DECIDED:
        until = when(dispute.appeal_due_at) if dispute.appeal_due_at else "the appeal deadline"
        appeal = "" if dispute.appealed_by_id else "Either party may appeal once until "
        tail = f"{appeal}{until}; after that" if appeal else "After the appeal deadline"
        return f"The arbiter decided {share}. {tail} the decision is carried out."
    final: dict[str, str] = {
        S.RESOLVING: f"The decision ({share}) was sent to the escrow contract; the milestone "
        "is paid out as decided once the transaction is confirmed.",
        S.RESOLVED: f"Resolved by the arbiter: {share}. The money has moved.",
        S.SETTLED: f"Settled by agreement: {share}. The money has moved.",
        S.WITHDRAWN: f"Withdrawn by {opener.display_name}. The milestone went back to "
        f"“{dispute.milestone.get_status_display()}”.",
    }
    return final.get(status, dispute.get_status_display())


def _with_arbiter(dispute: Dispute, share: str) -> str:
    words = "Appealed: a different arbiter reviews the case. " if dispute.is_appeal else ""
    if dispute.freelancer_share_bps is not None and dispute.decided_by_id is None:
        words += f"The agreed outcome ({share}) waits for an arbiter to carry it out. "
    if dispute.arbiter_id and dispute.decision_due_at:
        return words + f"An arbiter has the case and decides by {when(dispute.decision_due_at)}."
    return words + "Waiting for an arbiter to take the case."


# --- my disputes --------------------------------------------------------------------------


@login_required
@require_GET
def dispute_list(request: HttpRequest) -> HttpResponse:
    user = acting_user(request)
    cases = selectors.party_disputes(user).select_related("opened_by", "milestone")
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    for dispute in page.object_list:
        contract = dispute.milestone.contract
        dispute.amount_display = format_amount(dispute.amount_in_dispute, contract.currency)
        dispute.deadline = next_deadline(dispute)
        dispute.next_step = next_step(dispute, user)
    return render(request, "disputes/list.html", {"page": page})


# --- open a dispute on a milestone -----------------------------------------------------------


def _milestone_or_404(request: HttpRequest, pk: int) -> Milestone:
    milestone = (
        milestones_for(acting_user(request))
        .select_related("contract__client", "contract__freelancer")
        .filter(pk=pk)
        .first()
    )
    if milestone is None:
        raise Http404("No such milestone.")
    return milestone


def _open_page(
    request: HttpRequest, milestone: Milestone, form: OpenDisputeForm | None, status: int = 200
) -> HttpResponse:
    contract = milestone.contract
    held = format_amount(milestone.amount, contract.currency)
    form = form or OpenDisputeForm(
        currency=contract.currency,
        held_display=held,
        initial={"amount": amount_initial(int(milestone.amount), contract.currency)},
    )
    context = {
        "milestone": milestone,
        "contract": contract,
        "form": form,
        "held_display": held,
        "disputable": milestone.status in DISPUTABLE and contract.status == Contract.Status.ACTIVE,
        "on_chain": contract.rail == Rail.CHAIN,
        "earlier": list(selectors.party_disputes(acting_user(request)).filter(milestone=milestone)),
        "workroom_url": workroom_url(contract),
        "response_days": settings.DISPUTE_RESPONSE_DAYS,
    }
    return render(request, "disputes/open.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def milestone_dispute(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the milestone's current case if it has one, else the form; POST: open one."""
    milestone = _milestone_or_404(request, pk)
    contract = milestone.contract
    if request.method == "POST" and not has_verified_email(request.user):
        messages.warning(request, UNVERIFIED_DETAIL)
        return redirect("account_email")
    if request.method == "GET":
        cases = selectors.party_disputes(acting_user(request)).filter(milestone=milestone)
        current = cases.exclude(status__in=Dispute.FINAL).first()
        if current is None and milestone.status not in DISPUTABLE:
            current = cases.first()  # a decided milestone: its latest case
        if current is not None:
            return redirect("dispute_detail", current.pk)
        return _open_page(request, milestone, None)
    form = OpenDisputeForm(
        request.POST,
        currency=contract.currency,
        held_display=format_amount(milestone.amount, contract.currency),
    )
    if not form.is_valid():
        return _open_page(request, milestone, form, status=400)
    dispute, error = attempt(
        lambda: open_dispute(
            actor=acting_user(request),
            milestone_id=pk,
            reason=form.cleaned_data["reason"],
            description=form.cleaned_data["description"],
            amount=form.cleaned_data["amount"],
        )
    )
    if error or dispute is None:
        assert error is not None
        form.add_error(None, error.detail)
        return _open_page(request, milestone, form, status=error.status_code)
    if contract.rail == Rail.CHAIN:
        messages.success(
            request,
            "Dispute opened. On the chain rail the escrow contract locks the money when your "
            "wallet sends the dispute transaction: use “Open a dispute from your wallet” in "
            "the workroom's Payments panel.",
        )
    else:
        messages.success(
            request, "Dispute opened. The money stays locked in escrow; the other party is told."
        )
    return redirect("dispute_detail", dispute.pk)


# --- the case page ------------------------------------------------------------------------


def blank_forms(dispute: Dispute) -> dict[str, Any]:
    prefix = f"dispute-{dispute.pk}"
    return {
        "respond": RespondForm(auto_id=f"{prefix}-respond-%s"),
        "evidence": EvidenceForm(auto_id=f"{prefix}-evidence-%s"),
        "offer": OfferForm(auto_id=f"{prefix}-offer-%s"),
        "escalate": EscalateForm(auto_id=f"{prefix}-escalate-%s"),
        "appeal": AppealForm(auto_id=f"{prefix}-appeal-%s"),
    }


def _actions(dispute: Dispute, viewer: User) -> set[str]:
    """What ``viewer`` may try here; the services check again."""
    status = dispute.status
    can: set[str] = set()
    if status in Dispute.ACTIVE:
        can |= {"evidence", "offer"}
    if status == S.OPEN and viewer.pk != dispute.opened_by_id:
        can.add("respond")
    if status in (S.OPEN, S.RESPONDED):
        can.add("escalate")
    opener = viewer.pk == dispute.opened_by_id
    undecided = dispute.decided_at is None and not dispute.is_appeal
    locked_on_chain = (
        dispute.milestone.contract.rail == Rail.CHAIN
        and dispute.milestone.status == Milestone.Status.DISPUTED
    )
    if status in Dispute.ACTIVE and opener and undecided and not locked_on_chain:
        can.add("withdraw")
    if (
        status == S.DECIDED
        and dispute.appealed_by_id is None
        and dispute.appeal_due_at is not None
        and timezone.now() < dispute.appeal_due_at
    ):
        can.add("appeal")
    return can


def _offers(dispute: Dispute, contract: Contract, viewer: User, active: bool) -> list[Any]:
    offers = list(dispute.offers.select_related("proposed_by").order_by("-created_at", "-pk"))
    for offer in offers:
        offer.split = split_of(contract, dispute.milestone, int(offer.freelancer_share_bps))  # type: ignore[attr-defined]
        offer.can_accept = (  # type: ignore[attr-defined]
            active
            and offer.status == SettlementOffer.Status.OPEN
            and offer.proposed_by_id != viewer.pk
        )
    return offers


def render_case(
    request: HttpRequest,
    dispute: Dispute,
    *,
    bound: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The case page; ``bound`` replaces the blank form of one action, so its errors show."""
    viewer = acting_user(request)
    dispute.refresh_from_db()
    milestone = dispute.milestone
    milestone.refresh_from_db()
    contract = milestone.contract
    can = _actions(dispute, viewer)
    forms = {**blank_forms(dispute), **(bound or {})}
    decided = dispute.status in (S.DECIDED, S.RESOLVING, S.RESOLVED, S.SETTLED)
    context = {
        "dispute": dispute,
        "milestone": milestone,
        "contract": contract,
        "viewer_is_opener": viewer.pk == dispute.opened_by_id,
        "next_step": next_step(dispute, viewer),
        "deadline": next_deadline(dispute),
        "amount_display": format_amount(dispute.amount_in_dispute, contract.currency),
        "held_display": format_amount(milestone.amount, contract.currency),
        "events": list(dispute.events.select_related("actor")),
        "evidence": list(dispute.evidence.select_related("submitted_by")),
        "offers": _offers(dispute, contract, viewer, dispute.status in Dispute.ACTIVE),
        "decision": split_of(contract, milestone, int(dispute.freelancer_share_bps or 0))
        if decided and dispute.freelancer_share_bps is not None
        else None,
        "can": can,
        "forms": forms,
        "bound": set(bound or {}),
        "on_chain": contract.rail == Rail.CHAIN,
        "chain_not_locked": contract.rail == Rail.CHAIN
        and milestone.status in DISPUTABLE
        and dispute.status in Dispute.UNFINISHED,
        "workroom_url": workroom_url(contract),
        "split_data": {
            "held": int(milestone.amount),
            "fee_bps": contract.fee_bps,
            "exponent": CURRENCIES[contract.currency].exponent,
            "symbol": CURRENCIES[contract.currency].symbol,
        },
    }
    return render(request, "disputes/detail.html", context, status=status)


@login_required
@require_GET
def dispute_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render_case(request, case_or_404(request, pk))


@login_required
@require_GET
def evidence_download(request: HttpRequest, pk: int, evidence_id: int) -> FileResponse:
    """Evidence files stream only to the case's parties."""
    case_or_404(request, pk)
    item = selectors.evidence_file_for(acting_user(request), pk, evidence_id)
    if item is None:
        raise Http404("No such file.")
    return private_download(item.file, name=item.name, content_type=item.content_type)
