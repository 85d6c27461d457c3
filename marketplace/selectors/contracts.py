"""Reads for offers, contracts, milestones and the dashboards; each filters by the viewer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from marketplace.models import (
    Contract,
    ContractActivity,
    Job,
    Milestone,
    Proposal,
    RevisionRequest,
    Submission,
    SubmissionFile,
    User,
)
from marketplace.services.contracts import visible_contracts

ROLES = ("client", "freelancer")


def contracts_for(user: User, *, status: str | None = None, role: str | None = None) -> Any:
    """The viewer's contracts and offers, newest first, with parties and milestones."""
    if role == "client":
        contracts = Contract.objects.filter(client=user)
    elif role == "freelancer":
        contracts = Contract.objects.filter(freelancer=user)
    else:
        contracts = visible_contracts(user)
    if status:
        contracts = contracts.filter(status=status)
    return contracts.select_related("client", "freelancer", "job").prefetch_related(
        Prefetch("milestones", queryset=Milestone.objects.order_by("position"))
    )


def milestones_for(user: User) -> QuerySet[Milestone]:
    return Milestone.objects.filter(contract__in=visible_contracts(user)).select_related("contract")


def submissions_for(user: User, milestone_id: int) -> QuerySet[Submission]:
    return (
        Submission.objects.filter(
            milestone_id=milestone_id, milestone__contract__in=visible_contracts(user)
        )
        .select_related("milestone__contract")
        .prefetch_related(Prefetch("files", queryset=SubmissionFile.objects.order_by("pk")))
        .order_by("number")
    )


def file_for(user: User, file_id: int) -> SubmissionFile | None:
    return (
        SubmissionFile.objects.filter(
            pk=file_id, submission__milestone__contract__in=visible_contracts(user)
        )
        .select_related("submission")
        .first()
    )


def workroom_contract(user: User, contract_id: int) -> Contract | None:
    """One contract with everything the workroom shows, in a fixed number of queries."""
    submissions = Submission.objects.select_related("submitted_by").prefetch_related(
        Prefetch("files", queryset=SubmissionFile.objects.order_by("pk"))
    )
    revisions = RevisionRequest.objects.order_by("-created_at", "-pk")
    milestones = Milestone.objects.order_by("position").prefetch_related(
        Prefetch("submissions", queryset=submissions.order_by("number")),
        Prefetch("revisions", queryset=revisions),
    )
    activity = ContractActivity.objects.select_related("actor").order_by("-created_at", "-pk")
    return (
        visible_contracts(user)
        .select_related("client", "freelancer", "job", "proposal")
        .prefetch_related(
            Prefetch("milestones", queryset=milestones), Prefetch("activity", queryset=activity)
        )
        .filter(pk=contract_id)
        .first()
    )


@dataclass
class Dashboard:
    """What waits for the viewer, per role; every list is already evaluated."""

    offers_sent: list[Contract] = field(default_factory=list)
    to_review: list[Milestone] = field(default_factory=list)
    jobs_with_proposals: list[Job] = field(default_factory=list)
    offers_received: list[Contract] = field(default_factory=list)
    ready_to_submit: list[Milestone] = field(default_factory=list)
    revisions: list[Milestone] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not any(
            (
                self.offers_sent,
                self.to_review,
                self.jobs_with_proposals,
                self.offers_received,
                self.ready_to_submit,
                self.revisions,
            )
        )


def dashboard_for(user: User) -> Dashboard:
    """Client and freelancer to-do lists: six queries whatever their length."""
    offers = Contract.objects.filter(status=Contract.Status.OFFERED).select_related(
        "client", "freelancer", "job"
    )
    active_milestones = Milestone.objects.filter(
        contract__status=Contract.Status.ACTIVE
    ).select_related("contract", "contract__client", "contract__freelancer")
    revised = Exists(Submission.objects.filter(milestone=OuterRef("pk")))
    funded = (
        active_milestones.filter(contract__freelancer=user, status=Milestone.Status.FUNDED)
        .annotate(was_submitted=revised)
        .prefetch_related(
            Prefetch("revisions", queryset=RevisionRequest.objects.order_by("-created_at", "-pk"))
        )
        .order_by("contract_id", "position")
    )
    funded_list = list(funded)
    return Dashboard(
        offers_sent=list(offers.filter(client=user)),
        to_review=list(
            active_milestones.filter(
                contract__client=user, status=Milestone.Status.SUBMITTED
            ).order_by("review_deadline")
        ),
        jobs_with_proposals=list(
            Job.objects.filter(client=user, status=Job.Status.OPEN)
            .annotate(
                new_proposals=Count(
                    "proposals", filter=Q(proposals__status=Proposal.Status.SUBMITTED)
                )
            )
            .filter(new_proposals__gt=0)
            .order_by("-published_at", "-pk")
        ),
        offers_received=list(offers.filter(freelancer=user)),
        ready_to_submit=[m for m in funded_list if not m.was_submitted],
        revisions=[m for m in funded_list if m.was_submitted],
    )
