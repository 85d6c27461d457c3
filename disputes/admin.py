"""The arbiter console: the dispute list is the queue, the change page is the case.

Nothing here is edited by hand. The case page's forms post to views that call one
service each (``resolve_dispute``, ``confirm_decision``, ``assign_arbiter``); a refusal
is shown as an error message on the page and nothing is written.

Who sees what: arbiters (``is_arbiter``, no model permissions) see the disputes app
and only the cases of ``arbiter_queue``; ops staff (superusers, or the view or change
permission on disputes) see every case.
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from disputes import admin_case, selectors, services
from disputes.admin_filters import (
    AmountFilter,
    CurrencyFilter,
    MineFilter,
    OverdueFilter,
    RailFilter,
    StateFilter,
)
from disputes.admin_forms import AssignForm, ConfirmForm, ResolveForm, Split
from disputes.models import BPS, Dispute
from escrow.admin_base import run_service
from marketplace.models import User
from marketplace.money import format_amount

CASE_TEMPLATE = "admin/disputes/dispute/case.html"


def acting(request: HttpRequest) -> User:
    return cast(User, request.user)  # the admin lets in only staff who signed in


def sees_every_case(user: User) -> bool:
    """Ops staff: superusers, or the view or change permission on disputes."""
    return bool(
        user.is_superuser
        or user.has_perm("disputes.view_dispute")
        or selectors.manages_disputes(user)
    )


@admin.register(Dispute)
class DisputeAdmin(admin.ModelAdmin):
    list_display = (
        "case",
        "status_in_words",
        "milestone_link",
        "rail",
        "amount",
        "arbiter",
        "deadline",
    )
    list_filter = (
        MineFilter,
        OverdueFilter,
        RailFilter,
        CurrencyFilter,
        AmountFilter,
        StateFilter,
        "status",
    )
    list_select_related = ("milestone__contract", "arbiter")
    search_fields = (
        "milestone__title",
        "milestone__contract__title",
        "milestone__contract__client__email",
        "milestone__contract__freelancer__email",
    )
    list_per_page = 50
    actions = None

    # --- who may see what ------------------------------------------------------------

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or acting(request).is_arbiter

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or acting(request).is_arbiter

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a case changes only through the services, from the case page

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dispute]:
        user = acting(request)
        cases = super().get_queryset(request)
        if not sees_every_case(user):
            cases = cases.filter(pk__in=selectors.arbiter_queue(user).values("pk"))
        late = selectors.overdue(Dispute.objects.filter(pk=OuterRef("pk")))
        return cases.annotate(is_overdue=Exists(late))

    # --- the queue's columns ---------------------------------------------------------

    @admin.display(description="Case", ordering="pk")
    def case(self, dispute: Dispute) -> str:
        return f"Dispute {dispute.pk}"

    @admin.display(description="Status", ordering="status")
    def status_in_words(self, dispute: Dispute) -> str:
        return dispute.get_status_display() + (" (appeal)" if dispute.is_appeal else "")

    @admin.display(description="Milestone", ordering="milestone__title")
    def milestone_link(self, dispute: Dispute) -> str:
        milestone = dispute.milestone
        return format_html(
            "{} <span class='quiet'>({})</span>",
            milestone.title,
            milestone.contract.title,
        )

    @admin.display(description="Rail", ordering="milestone__contract__rail")
    def rail(self, dispute: Dispute) -> str:
        return dispute.milestone.contract.get_rail_display()

    @admin.display(description="Amount in dispute", ordering="amount_in_dispute")
    def amount(self, dispute: Dispute) -> str:
        return format_amount(int(dispute.amount_in_dispute), dispute.milestone.contract.currency)

    @admin.display(description="Deadline")
    def deadline(self, dispute: Dispute) -> str:
        label, when = admin_case.deadline_of(dispute)
        if when is None:
            return "—"
        late = getattr(dispute, "is_overdue", False)
        return format_html(
            "{}: {} UTC{}",
            label,
            when.strftime("%d %b %Y %H:%M"),
            mark_safe(" <strong class='overdue'>overdue</strong>") if late else "",
        )

    # --- the case page ---------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:dispute_id>/resolve/",
                wrap(self.resolve_view),
                name="disputes_dispute_resolve",
            ),
            path(
                "<int:dispute_id>/confirm/",
                wrap(self.confirm_view),
                name="disputes_dispute_confirm",
            ),
            path(
                "<int:dispute_id>/assign/", wrap(self.assign_view), name="disputes_dispute_assign"
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        dispute = self._case_or_404(request, unquote(object_id))
        if request.method != "GET":
            return HttpResponseRedirect(case_url(dispute))
        return self.render_case(request, dispute)

    def _case_or_404(self, request: HttpRequest, dispute_id: object) -> Dispute:
        """The case if it is in the user's queue (or the user sees every case)."""
        if not self.has_view_permission(request):
            raise Http404("No such dispute.")
        dispute = self.get_object(request, str(dispute_id))
        if dispute is None:
            raise Http404("No such dispute.")
        return dispute

    def render_case(self, request: HttpRequest, dispute: Dispute, **forms: Any) -> TemplateResponse:
        user = acting(request)
        milestone = dispute.milestone
        contract = milestone.contract
        escrow = admin_case.escrow_of(milestone)
        held = int(escrow.balance) if escrow is not None else 0
        split_base = held or int(milestone.amount)
        status = dispute.status
        # The services decide; these only choose which forms the page offers.
        can_resolve = (
            user.is_arbiter and status in Dispute.ACTIVE and dispute.arbiter_id in (None, user.pk)
        )
        can_confirm = (
            user.is_arbiter
            and status == Dispute.Status.CONFIRMING
            and user.pk not in (dispute.decided_by_id, dispute.arbiter_id)
        )
        can_assign = selectors.manages_disputes(user) and status == Dispute.Status.ESCALATED
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": f"Dispute {dispute.pk}: {milestone.title}",
            "opts": self.opts,
            "original": dispute,
            "has_view_permission": True,
            "dispute": dispute,
            "contract": contract,
            "milestone": milestone,
            "amount_shown": format_amount(int(milestone.amount), contract.currency),
            "disputed_shown": format_amount(int(dispute.amount_in_dispute), contract.currency),
            "held_shown": format_amount(held, contract.currency),
            "deadline": admin_case.deadline_of(dispute),
            "is_overdue": selectors.overdue(Dispute.objects.filter(pk=dispute.pk)).exists(),
            "submissions": admin_case.submissions(milestone),
            "evidence": admin_case.evidence_rows(dispute),
            "activity": admin_case.activity(contract),
            "ledger": admin_case.ledger_lines(escrow),
            "events": list(dispute.events.select_related("actor")),
            "decision": _decision(dispute, split_base, contract.fee_bps, contract.currency),
            "audit_link": _audit_link(user, dispute),
            "can_resolve": can_resolve,
            "can_confirm": can_confirm,
            "can_assign": can_assign,
        }
        if can_resolve:
            form = forms.get("resolve_form") or ResolveForm(
                initial={"freelancer_share_bps": _proposed_share(dispute)},
                held=split_base,
                fee_bps=contract.fee_bps,
                currency=contract.currency,
            )
            context["resolve_form"] = form
        if can_confirm:
            context["confirm_form"] = forms.get("confirm_form") or ConfirmForm()
        if can_assign:
            choices = admin_case.arbiter_choices(dispute, contract)
            context["arbiters"] = choices
            context["assign_form"] = forms.get("assign_form") or _assign_form(choices)
        return TemplateResponse(request, CASE_TEMPLATE, context)

    # --- the forms' doors: one service each ------------------------------------------

    def resolve_view(self, request: HttpRequest, dispute_id: int) -> HttpResponse:
        dispute = self._case_or_404(request, dispute_id)
        if request.method != "POST":
            return HttpResponseRedirect(case_url(dispute))
        contract = dispute.milestone.contract
        form = ResolveForm(
            request.POST,
            held=_split_base(dispute),
            fee_bps=contract.fee_bps,
            currency=contract.currency,
        )
        if not form.is_valid():
            messages.error(request, "The freelancer's share is a whole number from 0 to 10000.")
            return self.render_case(request, dispute, resolve_form=form)
        decided = run_service(
            request,
            "Decision",
            partial(
                services.resolve_dispute,
                actor=acting(request),
                dispute_id=dispute.pk,
                freelancer_share_bps=form.cleaned_data["freelancer_share_bps"],
                rationale=form.cleaned_data["rationale"],
            ),
        )
        if decided is None:
            return self.render_case(request, dispute, resolve_form=form)
        messages.success(request, f"Dispute {decided.pk}: {decided.get_status_display()}.")
        return HttpResponseRedirect(case_url(decided))

    def confirm_view(self, request: HttpRequest, dispute_id: int) -> HttpResponse:
        dispute = self._case_or_404(request, dispute_id)
        if request.method != "POST":
            return HttpResponseRedirect(case_url(dispute))
        form = ConfirmForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose whether you agree with the decision.")
            return self.render_case(request, dispute, confirm_form=form)
        confirmed = run_service(
            request,
            "Confirmation",
            partial(
                services.confirm_decision,
                actor=acting(request),
                dispute_id=dispute.pk,
                agree=form.cleaned_data["agree"],
                note=form.cleaned_data["note"],
            ),
        )
        if confirmed is None:
            return self.render_case(request, dispute, confirm_form=form)
        messages.success(request, f"Dispute {confirmed.pk}: {confirmed.get_status_display()}.")
        return HttpResponseRedirect(case_url(confirmed))

    def assign_view(self, request: HttpRequest, dispute_id: int) -> HttpResponse:
        dispute = self._case_or_404(request, dispute_id)
        if request.method != "POST":
            return HttpResponseRedirect(case_url(dispute))
        choices = admin_case.arbiter_choices(dispute, dispute.milestone.contract)
        form = _assign_form(choices, request.POST)
        if not form.is_valid():
            messages.error(request, "Choose an arbiter, or round-robin.")
            return self.render_case(request, dispute, assign_form=form)
        assigned = run_service(
            request,
            "Assignment",
            partial(
                services.assign_arbiter,
                actor=acting(request),
                dispute_id=dispute.pk,
                arbiter_id=form.cleaned_data["arbiter"],
            ),
        )
        if assigned is None:
            return self.render_case(request, dispute, assign_form=form)
        who = assigned.arbiter.email if assigned.arbiter else "nobody"
        messages.success(request, f"Dispute {assigned.pk}: assigned to {who}.")
        return HttpResponseRedirect(case_url(assigned))


def case_url(dispute: Dispute) -> str:
    return reverse("admin:disputes_dispute_change", args=[dispute.pk])


def _assign_form(choices: list[admin_case.ArbiterChoice], data: Any = None) -> AssignForm:
    eligible = [
        (
            choice.user.pk,
            f"{choice.user.email} ({choice.load} open case{'s' if choice.load != 1 else ''})",
        )
        for choice in choices
        if choice.conflict is None
    ]
    return AssignForm(data, eligible=eligible)


def _audit_link(user: User, dispute: Dispute) -> str:
    """The audit log's entries about this case, for staff who may read the log."""
    if not (user.is_superuser or user.has_perm("smartpay.view_auditentry")):
        return ""
    query = urlencode({"target_type": "disputes.dispute", "target_id": str(dispute.pk)})
    return f"{reverse('admin:smartpay_auditentry_changelist')}?{query}"


def _split_base(dispute: Dispute) -> int:
    """What a decision splits: the milestone's escrow as the ledger holds it (the chain
    rail's mirror too), or its amount once the escrow is empty."""
    escrow = admin_case.escrow_of(dispute.milestone)
    held = int(escrow.balance) if escrow is not None else 0
    return held or int(dispute.milestone.amount)


def _proposed_share(dispute: Dispute) -> int:
    """Where the slider starts: the decision on record, else half each."""
    share = dispute.freelancer_share_bps
    return BPS // 2 if share is None else int(share)


def _decision(dispute: Dispute, held: int, fee_bps: int, currency: str) -> Split | None:
    """The decision on record (proposed, confirmed or executed) as money."""
    if dispute.freelancer_share_bps is None:
        return None
    return Split(int(dispute.freelancer_share_bps), held, fee_bps, currency)
