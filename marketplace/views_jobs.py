"""Job and proposal pages: thin views over the same services and selectors as the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from marketplace import forms_jobs
from marketplace.models import Job, Proposal, User
from marketplace.permissions import acting_user, verified_required
from marketplace.selectors import jobs as job_selectors
from marketplace.selectors import proposals as proposal_selectors
from marketplace.services import jobs as job_services
from marketplace.services import proposals as proposal_services
from smartpay.errors import DomainError, NotFoundError

PAGE_SIZE = 20
JOB_ERROR_FIELDS = {
    "invalid_budget": "budget",
    "deadline_in_past": "deadline",
    "invalid_title": "title",
    "invalid_description": "description",
    "too_many_skills": "skills",
    "job_has_proposals": "currency",
}


def _visible_job(request: HttpRequest, pk: int) -> Job:
    try:
        job = job_selectors.get_visible_job(request.user, pk)
        job_selectors.with_display([job])
        return job
    except Job.DoesNotExist:
        raise Http404("No such job.") from None


def _own_job(request: HttpRequest, pk: int) -> Job:
    job = _visible_job(request, pk)
    if job.client_id != request.user.pk:
        raise Http404("No such job.")
    return job


def _visible_proposal(request: HttpRequest, pk: int) -> Proposal:
    try:
        proposal = proposal_selectors.get_visible_proposal(request.user, pk)
        proposal_selectors.with_display([proposal])
        return proposal
    except Proposal.DoesNotExist:
        raise Http404("No such proposal.") from None


def _form_error(form: forms.Form, error: DomainError, fields: dict[str, str]) -> None:
    if isinstance(error, NotFoundError):
        raise Http404(error.detail)
    field = fields.get(error.code)
    form.add_error(field if field in form.fields else None, error.detail)


# --- job board ------------------------------------------------------------


@require_GET
def job_board(request: HttpRequest) -> HttpResponse:
    form = forms_jobs.JobSearchForm(request.GET or None)
    jobs = Job.objects.none()
    if not request.GET or form.is_valid():
        filters = form.filters() if request.GET else job_selectors.JobFilters()
        jobs = job_selectors.open_jobs(request.user, filters)
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = job_selectors.with_display(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    partial = request.headers.get("HX-Request") and not request.headers.get(
        "HX-History-Restore-Request"
    )
    if partial:
        return render(request, "marketplace/jobs/_results.html", {**context, "oob": True})
    return render(request, "marketplace/jobs/board.html", context)


@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _visible_job(request, pk)
    user = request.user
    context: dict[str, Any] = {"job": job, "is_owner": job.client_id == user.pk}
    if context["is_owner"]:
        context["invites"] = list(job_selectors.job_invites(job))
    elif user.is_authenticated:
        context["my_proposal"] = proposal_selectors.own_proposal_for_job(user, job)
        if (
            context["my_proposal"] is None
            and job.status == Job.Status.OPEN
            and getattr(user, "is_freelancer", False)
        ):
            context["proposal_form"] = forms_jobs.ProposalForm()
            context["formset"] = forms_jobs.milestone_formset(currency=job.currency)
    return render(request, "marketplace/jobs/detail.html", context)


@login_required
@require_GET
def job_mine(request: HttpRequest) -> HttpResponse:
    page = Paginator(job_selectors.own_jobs(acting_user(request)), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    page.object_list = job_selectors.with_display(page.object_list)
    return render(request, "marketplace/jobs/mine.html", {"page": page})


@verified_required
def job_create(request: HttpRequest) -> HttpResponse:
    form = forms_jobs.JobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = job_services.create_job(
                actor=acting_user(request), publish="publish" in request.POST, **form.cleaned_data
            )
        except DomainError as error:
            _form_error(form, error, JOB_ERROR_FIELDS)
        else:
            state = "published" if job.status == Job.Status.OPEN else "saved as a draft"
            messages.success(request, f"“{job.title}” is {state}.")
            return redirect("job_detail", job.pk)
    return render(request, "marketplace/jobs/form.html", {"form": form, "job": None})


@login_required
def job_edit(request: HttpRequest, pk: int) -> HttpResponse:
    job = _own_job(request, pk)
    form = forms_jobs.JobForm(request.POST or None, initial=forms_jobs.JobForm.initial_for(job))
    if request.method == "POST" and form.is_valid():
        try:
            job_services.update_job(actor=acting_user(request), job_id=job.pk, **form.cleaned_data)
        except DomainError as error:
            _form_error(form, error, JOB_ERROR_FIELDS)
        else:
            messages.success(request, "Your changes are saved.")
            return redirect("job_detail", job.pk)
    return render(request, "marketplace/jobs/form.html", {"form": form, "job": job})


def _job_action(service: Callable[..., Job], done: str) -> Callable[..., HttpResponse]:
    @login_required
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        _own_job(request, pk)
        try:
            service(actor=acting_user(request), job_id=pk)
        except NotFoundError:
            raise Http404("No such job.") from None
        except DomainError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, done)
        return redirect("job_detail", pk)

    return view


job_publish = _job_action(job_services.publish_job, "The job is open for proposals.")
job_close = _job_action(job_services.close_job, "The job is closed to new proposals.")
job_cancel = _job_action(job_services.cancel_job, "The job is cancelled.")


@login_required
def job_invite(request: HttpRequest, pk: int) -> HttpResponse:
    job = _own_job(request, pk)
    form = forms_jobs.InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        freelancer = User.objects.filter(
            email__iexact=form.cleaned_data["email"], is_freelancer=True
        ).first()
        if freelancer is None:
            form.add_error("email", "No freelancer has that e-mail address.")
        else:
            try:
                job_services.invite_freelancer(
                    actor=acting_user(request),
                    job_id=job.pk,
                    freelancer_id=freelancer.pk,
                    message=form.cleaned_data["message"],
                )
            except DomainError as error:
                _form_error(form, error, {"not_a_freelancer": "email", "already_invited": "email"})
            else:
                messages.success(request, f"{freelancer.display_name} is invited.")
                return redirect("job_detail", job.pk)
    invites = list(job_selectors.job_invites(job))
    return render(
        request, "marketplace/jobs/invite.html", {"job": job, "form": form, "invites": invites}
    )


@login_required
@require_GET
def job_proposals(request: HttpRequest, pk: int) -> HttpResponse:
    job = _own_job(request, pk)
    page = Paginator(
        proposal_selectors.proposals_for_job(acting_user(request), job), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    page.object_list = proposal_selectors.with_display(page.object_list)
    return render(request, "marketplace/jobs/job_proposals.html", {"job": job, "page": page})


# --- proposals ------------------------------------------------------------


def _plan_form_page(
    request: HttpRequest,
    *,
    job: Job,
    proposal: Proposal | None,
    save: Callable[[str, list[proposal_services.PlannedMilestone]], Proposal],
) -> HttpResponse:
    """The proposal form (new or edit), with a server-side "add a milestone" round trip."""
    initial: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    if proposal is not None:
        from marketplace.money import CURRENCIES

        exponent = CURRENCIES[proposal.currency].exponent
        initial = {"cover_letter": proposal.cover_letter}
        rows = [
            {"title": m.title, "amount": m.amount.scaleb(-exponent), "due_date": m.due_date}
            for m in proposal.milestones.all()
        ]
    data = request.POST if request.method == "POST" else None
    adding = data is not None and "add_row" in data
    if adding:
        data = forms_jobs.add_row(data)
    form = forms_jobs.ProposalForm(data, initial=initial)
    formset = forms_jobs.milestone_formset(data, currency=job.currency, initial=rows)
    if data is not None and not adding and form.is_valid() and formset.is_valid():
        try:
            saved = save(form.cleaned_data["cover_letter"], formset.plan())
        except forms.ValidationError as error:
            form.add_error(None, error)
        except NotFoundError:
            raise Http404("No such job.") from None
        except DomainError as error:
            form.add_error(None, error.detail)
        else:
            messages.success(request, "Your proposal is saved.")
            return redirect("proposal_detail", saved.pk)
    context = {"job": job, "proposal": proposal, "form": form, "formset": formset}
    return render(request, "marketplace/jobs/proposal_form.html", context)


@verified_required
def proposal_create(request: HttpRequest, pk: int) -> HttpResponse:
    job = _visible_job(request, pk)
    existing = proposal_selectors.own_proposal_for_job(request.user, job)
    if existing is not None:
        messages.info(request, "You already proposed on this job.")
        return redirect("proposal_detail", existing.pk)

    def save(cover_letter: str, plan: list[proposal_services.PlannedMilestone]) -> Proposal:
        return proposal_services.submit_proposal(
            actor=acting_user(request),
            job_id=job.pk,
            cover_letter=cover_letter,
            currency=job.currency,
            milestones=plan,
        )

    return _plan_form_page(request, job=job, proposal=None, save=save)


@login_required
def proposal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _visible_proposal(request, pk)
    if proposal.freelancer_id != request.user.pk:
        raise Http404("No such proposal.")

    def save(cover_letter: str, plan: list[proposal_services.PlannedMilestone]) -> Proposal:
        return proposal_services.update_proposal(
            actor=acting_user(request),
            proposal_id=proposal.pk,
            cover_letter=cover_letter,
            milestones=plan,
        )

    return _plan_form_page(request, job=proposal.job, proposal=proposal, save=save)


@login_required
@require_GET
def proposal_mine(request: HttpRequest) -> HttpResponse:
    page = Paginator(proposal_selectors.own_proposals(acting_user(request)), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    page.object_list = proposal_selectors.with_display(page.object_list)
    return render(request, "marketplace/jobs/my_proposals.html", {"page": page})


@login_required
@require_GET
def proposal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    proposal = _visible_proposal(request, pk)
    context = {
        "proposal": proposal,
        "job": proposal.job,
        "is_owner": proposal.job.client_id == request.user.pk,
        "is_freelancer": proposal.freelancer_id == request.user.pk,
        "undecided": proposal.status in proposal_services.UNDECIDED,
    }
    return render(request, "marketplace/jobs/proposal_detail.html", context)


def _proposal_action(service: Callable[..., Proposal], done: str) -> Callable[..., HttpResponse]:
    @login_required
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        _visible_proposal(request, pk)
        try:
            service(actor=acting_user(request), proposal_id=pk)
        except NotFoundError:
            raise Http404("No such proposal.") from None
        except DomainError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, done)
        return redirect("proposal_detail", pk)

    return view


proposal_withdraw = _proposal_action(
    proposal_services.withdraw_proposal, "Your proposal is withdrawn."
)
proposal_shortlist = _proposal_action(
    proposal_services.shortlist_proposal, "The proposal is shortlisted."
)
proposal_decline = _proposal_action(proposal_services.decline_proposal, "The proposal is declined.")
