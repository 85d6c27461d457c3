"""Proposals: a freelancer proposes a milestone plan; the job's owner shortlists or declines.

Accepting a proposal sends an offer and lives with contracts
(``marketplace.services.contracts.offer_contract``).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.urls import reverse

from marketplace.models import Job, Proposal, ProposalMilestone, User
from marketplace.money import AMOUNT_DIGITS
from marketplace.selectors.jobs import visible_jobs
from marketplace.selectors.proposals import visible_proposals
from marketplace.services import audited
from marketplace.services.jobs import ensure_verified
from notifications.chat import ensure_conversation
from notifications.services import notify
from smartpay import audit
from smartpay.errors import Conflict, DomainError, InvalidTransition, NotAllowed, NotFoundError

MAX_MILESTONES = 20
UNDECIDED = (Proposal.Status.SUBMITTED, Proposal.Status.SHORTLISTED)


@dataclass(frozen=True)
class PlannedMilestone:
    title: str
    amount: int  # minor units
    due_date: datetime.date | None = None


def check_plan(
    milestones: Sequence[PlannedMilestone], currency: str, job: Job, total: int | None
) -> int:
    """Validate a milestone plan against its job; return its total."""
    if currency != job.currency:
        raise DomainError(
            f"This job is paid in {job.currency.upper()}; propose in that currency.",
            code="wrong_currency",
        )
    if not 1 <= len(milestones) <= MAX_MILESTONES:
        raise DomainError(
            f"A plan has 1 to {MAX_MILESTONES} milestones.", code="invalid_milestone_count"
        )
    for planned in milestones:
        if not planned.title.strip():
            raise DomainError("Every milestone needs a title.", code="invalid_milestone_title")
        if int(planned.amount) <= 0:
            raise DomainError(
                "Every milestone amount must be more than zero.", code="invalid_milestone_amount"
            )
    computed = sum(int(planned.amount) for planned in milestones)
    if len(str(computed)) > AMOUNT_DIGITS:
        raise DomainError("The total is too large.", code="invalid_milestone_amount")
    if total is not None and int(total) != computed:
        raise DomainError(
            f"The total {total} is not the sum of the milestones ({computed}).",
            code="milestone_total_mismatch",
        )
    return computed


def _write_plan(proposal: Proposal, milestones: Sequence[PlannedMilestone]) -> None:
    ProposalMilestone.objects.bulk_create(
        ProposalMilestone(
            proposal=proposal,
            position=position,
            title=planned.title.strip(),
            amount=int(planned.amount),
            due_date=planned.due_date,
        )
        for position, planned in enumerate(milestones, 1)
    )


def submit_proposal(
    *,
    actor: User,
    job_id: int,
    cover_letter: str,
    currency: str,
    milestones: Sequence[PlannedMilestone],
    total: int | None = None,
) -> Proposal:
    """Propose once on an open job you can see, with a plan of 1-20 milestones."""
    with transaction.atomic():
        try:
            # The job row lock serialises two proposals from the same freelancer.
            job = visible_jobs(actor).select_for_update(of=("self",)).get(pk=job_id)
        except Job.DoesNotExist:
            raise NotFoundError("No such job.") from None
        if job.client_id == actor.pk:
            raise NotAllowed("You cannot propose on your own job.", code="own_job")
        if not actor.is_freelancer:
            raise NotAllowed("Only freelancers propose on jobs.", code="not_a_freelancer")
        ensure_verified(actor)
        if job.status != Job.Status.OPEN:
            raise InvalidTransition("This job is not open for proposals.", code="job_not_open")
        if Proposal.objects.filter(job=job, freelancer=actor).exists():
            raise Conflict("You already proposed on this job.", code="already_proposed")
        if not cover_letter.strip():
            raise DomainError("Write a cover letter.", code="invalid_cover_letter")
        computed = check_plan(milestones, currency, job, total)
        try:
            with transaction.atomic():
                proposal = Proposal.objects.create(
                    job=job,
                    freelancer=actor,
                    cover_letter=cover_letter.strip(),
                    currency=currency,
                    total=computed,
                )
        except IntegrityError:
            raise Conflict("You already proposed on this job.", code="already_proposed") from None
        _write_plan(proposal, milestones)
        audit.record(
            actor, "proposal.submitted", proposal, after=audit.snapshot(proposal, audited.PROPOSAL)
        )
        notify(
            job.client_id,
            "proposal_submitted",
            f"New proposal on “{job.title}”",
            reverse("proposal_detail", args=[proposal.pk]),
        )
        ensure_conversation(
            proposal,
            "proposal",
            [job.client_id, actor.pk],
            f"Proposal: {job.title}",
            url=reverse("proposal_detail", args=[proposal.pk]),
        )
    return proposal


def _proposal_for_update(actor: User, proposal_id: int) -> Proposal:
    try:
        return (
            visible_proposals(actor)
            .select_for_update(of=("self",))
            .select_related(None)
            .prefetch_related(None)
            .select_related("job")
            .get(pk=proposal_id)
        )
    except Proposal.DoesNotExist:
        raise NotFoundError("No such proposal.") from None


def _ensure_freelancer(actor: User, proposal: Proposal) -> None:
    if proposal.freelancer_id != actor.pk:
        raise NotAllowed("Only the freelancer who proposed may do that.", code="not_your_proposal")


def _ensure_owner(actor: User, proposal: Proposal) -> None:
    if proposal.job.client_id != actor.pk:
        raise NotAllowed("Only the job's client may do that.", code="not_job_owner")


def _ensure_undecided(proposal: Proposal) -> None:
    if proposal.status not in UNDECIDED:
        raise Conflict(
            f"This proposal is {proposal.get_status_display().lower()}; it can no longer change.",
            code="proposal_decided",
        )


def update_proposal(
    *,
    actor: User,
    proposal_id: int,
    cover_letter: str | None = None,
    currency: str | None = None,
    milestones: Sequence[PlannedMilestone] | None = None,
    total: int | None = None,
) -> Proposal:
    """Edit an undecided proposal; a new plan replaces the old one whole."""
    with transaction.atomic():
        proposal = _proposal_for_update(actor, proposal_id)
        _ensure_freelancer(actor, proposal)
        _ensure_undecided(proposal)
        if proposal.job.status != Job.Status.OPEN:
            raise InvalidTransition("This job is no longer open.", code="job_not_open")
        if cover_letter is not None and not cover_letter.strip():
            raise DomainError("Write a cover letter.", code="invalid_cover_letter")
        currency = currency or proposal.currency
        if milestones is not None:
            computed = check_plan(milestones, currency, proposal.job, total)
        else:
            current = [
                PlannedMilestone(m.title, int(m.amount), m.due_date)
                for m in proposal.milestones.all()
            ]
            computed = check_plan(current, currency, proposal.job, total)
        before = audit.snapshot(proposal, audited.PROPOSAL)
        if cover_letter is not None:
            proposal.cover_letter = cover_letter.strip()
        proposal.total = computed
        proposal.save(update_fields=["cover_letter", "total", "updated_at"])
        if milestones is not None:
            proposal.milestones.all().delete()
            _write_plan(proposal, milestones)
        audit.record(
            actor,
            "proposal.updated",
            proposal,
            before=before,
            after=audit.snapshot(proposal, audited.PROPOSAL),
        )
        notify(
            proposal.job.client_id,
            "proposal_updated",
            f"A proposal on “{proposal.job.title}” was edited",
            reverse("proposal_detail", args=[proposal.pk]),
        )
    return proposal


def withdraw_proposal(*, actor: User, proposal_id: int) -> Proposal:
    with transaction.atomic():
        proposal = _proposal_for_update(actor, proposal_id)
        _ensure_freelancer(actor, proposal)
        _ensure_undecided(proposal)
        before = audit.snapshot(proposal, audited.PROPOSAL)
        proposal.status = Proposal.Status.WITHDRAWN
        proposal.save(update_fields=["status", "updated_at"])
        audit.record(
            actor,
            "proposal.withdrawn",
            proposal,
            before=before,
            after=audit.snapshot(proposal, audited.PROPOSAL),
        )
    return proposal


def shortlist_proposal(*, actor: User, proposal_id: int) -> Proposal:
    with transaction.atomic():
        proposal = _proposal_for_update(actor, proposal_id)
        _ensure_owner(actor, proposal)
        if proposal.status == Proposal.Status.SHORTLISTED:
            return proposal
        _ensure_undecided(proposal)
        before = audit.snapshot(proposal, audited.PROPOSAL)
        proposal.status = Proposal.Status.SHORTLISTED
        proposal.save(update_fields=["status", "updated_at"])
        audit.record(
            actor,
            "proposal.shortlisted",
            proposal,
            before=before,
            after=audit.snapshot(proposal, audited.PROPOSAL),
        )
        notify(
            proposal.freelancer_id,
            "proposal_shortlisted",
            f"Your proposal on “{proposal.job.title}” was shortlisted",
            reverse("proposal_detail", args=[proposal.pk]),
        )
    return proposal


def decline_proposal(*, actor: User, proposal_id: int) -> Proposal:
    with transaction.atomic():
        proposal = _proposal_for_update(actor, proposal_id)
        _ensure_owner(actor, proposal)
        _ensure_undecided(proposal)
        before = audit.snapshot(proposal, audited.PROPOSAL)
        proposal.status = Proposal.Status.DECLINED
        proposal.save(update_fields=["status", "updated_at"])
        audit.record(
            actor,
            "proposal.declined",
            proposal,
            before=before,
            after=audit.snapshot(proposal, audited.PROPOSAL),
        )
        notify(
            proposal.freelancer_id,
            "proposal_declined",
            f"Your proposal on “{proposal.job.title}” was declined",
            reverse("proposal_detail", args=[proposal.pk]),
        )
    return proposal
