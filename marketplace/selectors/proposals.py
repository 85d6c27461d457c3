"""Reads over proposals: only the freelancer who wrote one and the job's owner see it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet

from marketplace.models import Job, Proposal
from marketplace.money import format_amount
from marketplace.selectors.jobs import with_display as with_job_display


def _with_plan(queryset: QuerySet[Proposal]) -> QuerySet[Proposal]:
    return queryset.select_related("job", "job__client", "freelancer").prefetch_related(
        "milestones"
    )


def visible_proposals(user: Any) -> QuerySet[Proposal]:
    if not user.is_authenticated:
        return Proposal.objects.none()
    return _with_plan(Proposal.objects.filter(Q(freelancer_id=user.pk) | Q(job__client_id=user.pk)))


def get_visible_proposal(user: Any, proposal_id: int) -> Proposal:
    """One proposal ``user`` may see, or ``Proposal.DoesNotExist`` (a 404)."""
    return visible_proposals(user).get(pk=proposal_id)


def proposals_for_job(user: Any, job: Job) -> QuerySet[Proposal]:
    """The owner sees every proposal on the job; anyone else only their own."""
    proposals = Proposal.objects.filter(job=job)
    if job.client_id != user.pk:
        proposals = proposals.filter(freelancer_id=user.pk)
    return _with_plan(proposals).order_by("-created_at", "-pk")


def own_proposals(user: Any) -> QuerySet[Proposal]:
    """A freelancer's proposals, newest first."""
    return _with_plan(Proposal.objects.filter(freelancer_id=user.pk)).order_by("-created_at", "-pk")


def own_proposal_for_job(user: Any, job: Job) -> Proposal | None:
    if not user.is_authenticated:
        return None
    return Proposal.objects.filter(job=job, freelancer_id=user.pk).first()


def with_display(proposals: Iterable[Proposal]) -> list[Proposal]:
    """Attach formatted amounts for templates (``total_display``, ``amount_display``)."""
    shown = list(proposals)
    for proposal in shown:
        proposal.total_display = format_amount(proposal.total, proposal.currency)  # type: ignore[attr-defined]
        for milestone in proposal.milestones.all():
            milestone.amount_display = format_amount(milestone.amount, proposal.currency)  # type: ignore[attr-defined]
        with_job_display([proposal.job])
    return shown
