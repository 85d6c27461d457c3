"""The case page's forms: respond, add evidence, offer and accept a split, ask for an
arbiter, withdraw, appeal. Each POST finds the case (someone else's is a 404 before
the body is read), parses its form, calls one service and redirects back to the case;
a refusal re-renders the case page with the service's detail on that form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from disputes import services as dispute_services
from disputes.forms import AppealForm, EscalateForm, EvidenceForm, OfferForm, RespondForm
from disputes.models import Dispute
from disputes.views import attempt, case_or_404, render_case, share_words
from marketplace.models import Milestone
from marketplace.money import Rail
from marketplace.permissions import acting_user, verified_required


def _run(
    request: HttpRequest,
    dispute: Dispute,
    key: str,
    form: forms.Form,
    service: Callable[[dict[str, Any]], Any],
    done: Callable[[Any], str],
) -> HttpResponse:
    """Validate ``form``, call ``service`` with its cleaned data, say ``done(result)``."""
    if not form.is_valid():
        return render_case(request, dispute, bound={key: form}, status=400)
    result, error = attempt(lambda: service(form.cleaned_data))
    if error:
        form.add_error(None, error.detail)
        return render_case(request, dispute, bound={key: form}, status=error.status_code)
    messages.success(request, done(result))
    return redirect("dispute_detail", dispute.pk)


def _prefix(dispute: Dispute, key: str) -> str:
    return f"dispute-{dispute.pk}-{key}-%s"


@verified_required
@require_POST
def respond(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = case_or_404(request, pk)
    return _run(
        request,
        dispute,
        "respond",
        RespondForm(request.POST, auto_id=_prefix(dispute, "respond")),
        lambda data: dispute_services.respond_to_dispute(
            actor=acting_user(request), dispute_id=pk, text=data["text"]
        ),
        lambda _: "Response sent. The other party has been told.",
    )


@verified_required
@require_POST
def add_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = case_or_404(request, pk)

    def done(rows: list[Any]) -> str:
        files = [row for row in rows if row.sha256]
        if not files:
            return "Statement added to the case."
        listed = "; ".join(f"{row.name} (SHA-256 {row.sha256})" for row in files)
        return f"Evidence added: {listed}."

    return _run(
        request,
        dispute,
        "evidence",
        EvidenceForm(request.POST, request.FILES, auto_id=_prefix(dispute, "evidence")),
        lambda data: dispute_services.add_evidence(
            actor=acting_user(request), dispute_id=pk, text=data["text"], files=data["files"]
        ),
        done,
    )


@verified_required
@require_POST
def propose(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = case_or_404(request, pk)
    return _run(
        request,
        dispute,
        "offer",
        OfferForm(request.POST, auto_id=_prefix(dispute, "offer")),
        lambda data: dispute_services.propose_settlement(
            actor=acting_user(request),
            dispute_id=pk,
            freelancer_share_bps=data["freelancer_percent"],
        ),
        lambda offer: (
            f"Offer sent: {share_words(offer.freelancer_share_bps)}. "
            "The other party may accept it or counter."
        ),
    )


@verified_required
@require_POST
def accept(request: HttpRequest, pk: int, offer_id: int) -> HttpResponse:
    dispute = case_or_404(request, pk)
    if not dispute.offers.filter(pk=offer_id).exists():
        raise Http404("No such offer.")

    def done(offer: Any) -> str:
        agreed = share_words(offer.freelancer_share_bps)
        if dispute.milestone.contract.rail == Rail.CHAIN:
            return (
                f"Offer accepted ({agreed}). On the chain rail only the platform's arbiter key "
                "moves the money: an arbiter sends the agreed split to the escrow contract."
            )
        return f"Offer accepted ({agreed}). The dispute is settled and the money has moved."

    return _run(
        request,
        dispute,
        "accept",
        forms.Form(request.POST),
        lambda _: dispute_services.accept_settlement(actor=acting_user(request), offer_id=offer_id),
        done,
    )


@verified_required
@require_POST
def escalate(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = case_or_404(request, pk)

    def done(result: Dispute) -> str:
        if result.arbiter_id:
            return "An arbiter has the case now; you will both read the decision here."
        return "Sent to arbitration; an arbiter will take the case."

    return _run(
        request,
        dispute,
        "escalate",
        EscalateForm(request.POST, auto_id=_prefix(dispute, "escalate")),
        lambda data: dispute_services.escalate_dispute(
            actor=acting_user(request), dispute_id=pk, note=data["note"]
        ),
        done,
    )


@verified_required
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = case_or_404(request, pk)
    return _run(
        request,
        dispute,
        "withdraw",
        forms.Form(request.POST),
        lambda _: dispute_services.withdraw_dispute(actor=acting_user(request), dispute_id=pk),
        lambda result: (
            "Dispute withdrawn. The milestone went back to "
            f"“{Milestone.objects.get(pk=result.milestone_id).get_status_display()}”."
        ),
    )


@verified_required
@require_POST
def appeal(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = case_or_404(request, pk)
    return _run(
        request,
        dispute,
        "appeal",
        AppealForm(request.POST, auto_id=_prefix(dispute, "appeal")),
        lambda data: dispute_services.appeal_decision(
            actor=acting_user(request), dispute_id=pk, reason=data["reason"]
        ),
        lambda _: "Appeal sent. A different arbiter reviews the case; the decision waits.",
    )
